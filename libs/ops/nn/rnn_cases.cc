// Consistency cases for the fused RNN operator (test-only). The reference walks the flat
// parameter vector itself and computes every gate with scalar dot products, one time step
// and one batch row at a time (no GEMMs, no shared code with the kernels).
#include <cmath>
#include <string>
#include <vector>

#include "libs/ops/nn/nn_cases.h"

namespace mxgrid::ops::nn_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

struct Config {
  std::string mode;
  int layers = 1;
  bool bidirectional = false;
  bool state_outputs = false;
  int64_t t = 3, n = 2, c = 3, h = 2;
  double p = 0;  // dropout between layers; the cases with p run outside training
};

int Gates(const std::string& mode) { return mode == "lstm" ? 4 : mode == "gru" ? 3 : 1; }

double Sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// y = W row `row` (of width `width` at `w`) . v
double Dot(const double* w, int64_t row, int64_t width, const double* v) {
  double s = 0;
  for (int64_t i = 0; i < width; ++i) s += w[row * width + i] * v[i];
  return s;
}

Values Reference(const Config& cf, const Values& in) {
  const int g = Gates(cf.mode), dirs = cf.bidirectional ? 2 : 1;
  const int64_t h = cf.h, t_len = cf.t, n = cf.n;
  // Locate every weight block first, then every bias block.
  std::vector<const double*> wx, wh, bx, bh;
  std::vector<int64_t> width;
  const double* p = in[1].data();
  for (int l = 0; l < cf.layers; ++l) {
    for (int d = 0; d < dirs; ++d) {
      const int64_t w_in = l == 0 ? cf.c : dirs * h;
      width.push_back(w_in);
      wx.push_back(p);
      p += g * h * w_in;
      wh.push_back(p);
      p += g * h * h;
    }
  }
  for (int k = 0; k < cf.layers * dirs; ++k) {
    bx.push_back(p);
    p += g * h;
    bh.push_back(p);
    p += g * h;
  }
  std::vector<double> x = in[0];
  std::vector<double> hy(cf.layers * dirs * n * h), cy(hy.size());
  for (int l = 0; l < cf.layers; ++l) {
    std::vector<double> y(t_len * n * dirs * h);
    for (int d = 0; d < dirs; ++d) {
      const int k = l * dirs + d;
      const int64_t w_in = width[k];
      for (int64_t b = 0; b < n; ++b) {
        std::vector<double> hs(h), cs(h);
        for (int64_t j = 0; j < h; ++j) {
          hs[j] = in[2][(k * n + b) * h + j];
          if (cf.mode == "lstm") cs[j] = in[3][(k * n + b) * h + j];
        }
        for (int64_t s = 0; s < t_len; ++s) {
          const int64_t t = d == 0 ? s : t_len - 1 - s;
          const double* xt = x.data() + (t * n + b) * w_in;
          // Pre-activations of gate q, unit j: input part and hidden part separately.
          auto ai = [&](int q, int64_t j) {
            return Dot(wx[k], q * h + j, w_in, xt) + bx[k][q * h + j];
          };
          auto ah = [&](int q, int64_t j) {
            return Dot(wh[k], q * h + j, h, hs.data()) + bh[k][q * h + j];
          };
          std::vector<double> nh(h), nc(h);
          for (int64_t j = 0; j < h; ++j) {
            if (cf.mode == "rnn_tanh") {
              nh[j] = std::tanh(ai(0, j) + ah(0, j));
            } else if (cf.mode == "rnn_relu") {
              nh[j] = std::fmax(0.0, ai(0, j) + ah(0, j));
            } else if (cf.mode == "lstm") {
              const double ig = Sig(ai(0, j) + ah(0, j)), fg = Sig(ai(1, j) + ah(1, j));
              const double cg = std::tanh(ai(2, j) + ah(2, j)), og = Sig(ai(3, j) + ah(3, j));
              nc[j] = fg * cs[j] + ig * cg;
              nh[j] = og * std::tanh(nc[j]);
            } else {
              const double r = Sig(ai(0, j) + ah(0, j)), z = Sig(ai(1, j) + ah(1, j));
              const double nn = std::tanh(ai(2, j) + r * ah(2, j));
              nh[j] = (1 - z) * nn + z * hs[j];
            }
          }
          hs = nh;
          cs = nc;
          for (int64_t j = 0; j < h; ++j) y[(t * n + b) * dirs * h + d * h + j] = hs[j];
        }
        for (int64_t j = 0; j < h; ++j) {
          hy[(k * n + b) * h + j] = hs[j];
          cy[(k * n + b) * h + j] = cs[j];
        }
      }
    }
    x = y;
  }
  Values out = {x};
  if (cf.state_outputs) {
    out.push_back(hy);
    if (cf.mode == "lstm") out.push_back(cy);
  }
  return out;
}

int64_t ParamSize(const Config& cf) {
  const int64_t g = Gates(cf.mode), dirs = cf.bidirectional ? 2 : 1, h = cf.h;
  int64_t size = 0;
  for (int l = 0; l < cf.layers; ++l) {
    const int64_t w_in = l == 0 ? cf.c : dirs * h;
    size += dirs * (g * h * w_in + g * h * h + 2 * g * h);
  }
  return size;
}

OpCase Rnn(const std::string& name, Config cf) {
  OpCase c;
  c.name = name;
  c.op = "RNN";
  c.attrs = {{"mode", cf.mode},
             {"state_size", std::to_string(cf.h)},
             {"num_layers", std::to_string(cf.layers)}};
  if (cf.bidirectional) c.attrs["bidirectional"] = "True";
  if (cf.state_outputs) c.attrs["state_outputs"] = "True";
  if (cf.p > 0) {
    c.attrs["p"] = std::to_string(cf.p);
    c.is_train = false;  // no dropout: the reference applies
  }
  const Shape state{cf.layers * (cf.bidirectional ? 2 : 1), cf.n, cf.h};
  c.input_shapes = {Shape{cf.t, cf.n, cf.c}, Shape{ParamSize(cf)}, state};
  if (cf.mode == "lstm") c.input_shapes.push_back(state);
  c.reference = [cf](const Values& in, const std::vector<Shape>&) { return Reference(cf, in); };
  c.tolerance = 1e-6;
  return c;
}

}  // namespace

std::vector<OpCase> RnnCases() {
  return {
      Rnn("RNN_tanh", {"rnn_tanh"}),
      Rnn("RNN_relu_2layer_states", {"rnn_relu", 2, false, true}),
      Rnn("RNN_lstm", {"lstm"}),
      Rnn("RNN_lstm_states_batch1", {"lstm", 1, false, true, 4, 1, 2, 3}),
      Rnn("RNN_lstm_bidir_2layer_states", {"lstm", 2, true, true}),
      Rnn("RNN_gru", {"gru", 1, false, false, 2, 3, 2, 3}),
      Rnn("RNN_gru_bidir_2layer_states", {"gru", 2, true, true}),
      Rnn("RNN_tanh_bidir", {"rnn_tanh", 1, true, true}),
      Rnn("RNN_relu_bidir_3layer", {"rnn_relu", 3, true, false, 2, 2, 3, 2}),
      Rnn("RNN_tanh_3layer_states_long", {"rnn_tanh", 3, false, true, 5, 2, 2, 3}),
      Rnn("RNN_lstm_2layer_dropout_inference", {"lstm", 2, false, true, 3, 2, 3, 2, 0.4}),
  };
}

}  // namespace mxgrid::ops::nn_cases_internal
