// Command train_mlp trains the MXNet tutorial's multilayer perceptron on scikit-learn's 8x8
// digits on an mxgrid worker, from Go: it binds the network from its symbol JSON
// (mlp-symbol.json, the MLP of examples/train_digits.py as the Python client writes it),
// initializes the weights as mx.init.Xavier does, and trains with SGD with momentum, the
// tutorial's way: executor forward, backward, then one sgd_mom_update operator call per
// weight. It prints each epoch's training and held-out accuracy (about 97% held out, as
// examples/train_digits.py reaches).
//
//	go run ./examples/train_mlp -worker 127.0.0.1:50051
//
// The worker (started with --compiler=<a compiler's address>, or serving the compiler
// itself) comes from -worker or $MXGRID_WORKER. The data are the digits as
// tests/graph_golden/export_digits.py wrote them with mx.nd.save (1,437 training and 360
// held-out images), found by walking up from the working directory unless -data is given.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mxgrid/clients/go/mxgrid"
)

//go:embed mlp-symbol.json
var mlpSymbol string

const (
	features = 64 // 8x8 pixels
	classes  = 10
)

type flags struct {
	worker, data, symbol string
	epochs, batch        int
	lr, momentum, wd     float64
	seed                 int64
}

func main() {
	var f flags
	flag.StringVar(&f.worker, "worker", os.Getenv("MXGRID_WORKER"), "the worker's host:port (default $MXGRID_WORKER)")
	flag.StringVar(&f.data, "data", "", "folder of train.params and test.params (default: tests/graph_golden/data/digits above the working directory)")
	flag.StringVar(&f.symbol, "symbol", "", "a -symbol.json file to train instead of the built-in MLP (inputs data (N, 64) and softmax_label)")
	flag.IntVar(&f.epochs, "epochs", 20, "passes over the training set")
	flag.IntVar(&f.batch, "batch", 32, "batch size")
	flag.Float64Var(&f.lr, "lr", 0.1, "SGD learning rate")
	flag.Float64Var(&f.momentum, "momentum", 0.9, "SGD momentum")
	flag.Float64Var(&f.wd, "wd", 0, "weight decay")
	flag.Int64Var(&f.seed, "seed", 0, "seed of the weight initialization and the shuffling")
	flag.Parse()
	if err := run(context.Background(), f); err != nil {
		fmt.Fprintln(os.Stderr, "train_mlp:", err)
		os.Exit(1)
	}
}

// digits is one split on the host: pixels row-major (n x 64) in [0, 1], labels 0..9.
type digits struct {
	pixels, labels []float32
}

func (d digits) n() int { return len(d.labels) }

func run(ctx context.Context, f flags) error {
	if f.worker == "" {
		return errors.New("no worker: pass -worker host:port or set MXGRID_WORKER")
	}
	symbol := mlpSymbol
	if f.symbol != "" {
		b, err := os.ReadFile(f.symbol)
		if err != nil {
			return err
		}
		symbol = string(b)
	}
	train, test, err := loadDigits(f.data)
	if err != nil {
		return err
	}
	fmt.Printf("digits: %d training and %d held-out images of 8x8 pixels\n", train.n(), test.n())

	client, err := mxgrid.Dial(ctx, f.worker, nil)
	if err != nil {
		return err
	}
	defer client.Close()
	sess, err := client.OpenSession(ctx, &mxgrid.SessionOptions{ClientName: "train_mlp (Go)"})
	if err != nil {
		return err
	}
	defer sess.Close(context.Background())

	// simple_bind for training: data and labels have no gradient (as Module binds them).
	batch := int64(f.batch)
	exec, err := sess.SimpleBind(ctx, symbol, mxgrid.SimpleBindOptions{
		Shapes:   map[string][]int64{"data": {batch, features}, "softmax_label": {batch}},
		GradReqs: map[string]mxgrid.GradReq{"data": mxgrid.GradNull, "softmax_label": mxgrid.GradNull},
	})
	if err != nil {
		return err
	}
	fmt.Printf("bound on %s: arguments %s, outputs %s\n", client.Address(),
		strings.Join(exec.ArgNames, " "), strings.Join(exec.OutputNames, " "))
	if err := initXavier(ctx, sess, exec, f.seed); err != nil {
		return err
	}
	updates, err := sgdCalls(ctx, sess, exec, f)
	if err != nil {
		return err
	}
	eval, err := bindEval(ctx, sess, symbol, exec, test)
	if err != nil {
		return err
	}

	rng := rand.New(rand.NewSource(f.seed))
	var acc float64
	for epoch := 1; epoch <= f.epochs; epoch++ {
		start := time.Now()
		order := rng.Perm(train.n())
		correct, seen := 0, 0
		// The last partial batch of each epoch is dropped (the order changes every epoch).
		for b := 0; b+f.batch <= train.n(); b += f.batch {
			x, y := gather(train, order[b:b+f.batch])
			probs, err := exec.Forward(ctx, mxgrid.ForwardOptions{IsTrain: true, ReturnValues: true,
				Values: map[string]*mxgrid.Tensor{"data": x, "softmax_label": y}})
			if err != nil {
				return err
			}
			if err := exec.Backward(ctx); err != nil {
				return err
			}
			if _, err := sess.InvokeBatch(ctx, updates); err != nil {
				return err
			}
			c, err := countCorrect(probs[0], y)
			if err != nil {
				return err
			}
			correct, seen = correct+c, seen+f.batch
		}
		if acc, err = evaluate(ctx, eval, test); err != nil {
			return err
		}
		fmt.Printf("Epoch[%d] Train-accuracy=%.4f Validation-accuracy=%.4f Time cost=%.3fs\n",
			epoch, float64(correct)/float64(seen), acc, time.Since(start).Seconds())
	}
	fmt.Printf("held-out accuracy: %.4f (%d test images)\n", acc, test.n())
	return nil
}

// initXavier initializes every *_weight argument as mx.init.Xavier() does (uniform in
// [-s, s], s = sqrt(3 / ((fan_in + fan_out) / 2))) with the worker's _random_uniform
// operator writing into the argument; biases stay zero (simple_bind zero-fills).
func initXavier(ctx context.Context, sess *mxgrid.Session, exec *mxgrid.Executor, seed int64) error {
	if err := sess.SeedRandom(ctx, seed); err != nil {
		return err
	}
	for i, name := range exec.ArgNames {
		if !strings.HasSuffix(name, "_weight") {
			continue
		}
		w := exec.Args[i]
		if len(w.Shape) != 2 {
			return fmt.Errorf("%s: Xavier here takes 2-D weights, not %s", name, mxgrid.ShapeString(w.Shape))
		}
		fanOut, fanIn := float64(w.Shape[0]), float64(w.Shape[1])
		scale := math.Sqrt(3 / ((fanIn + fanOut) / 2))
		_, err := sess.Invoke(ctx, mxgrid.Call{Op: "_random_uniform", Outputs: []mxgrid.Array{w},
			Attrs: map[string]string{"low": fmt.Sprint(-scale), "high": fmt.Sprint(scale),
				"shape": mxgrid.ShapeString(w.Shape)}})
		if err != nil {
			return fmt.Errorf("initializing %s: %w", name, err)
		}
	}
	return nil
}

// sgdCalls returns the optimizer step: per argument with a gradient, sgd_mom_update(weight,
// grad, momentum state, out=weight), as MXNet's SGD optimizer runs it (gradients rescaled by
// 1 / batch size). The momentum states are new zero arrays.
func sgdCalls(ctx context.Context, sess *mxgrid.Session, exec *mxgrid.Executor, f flags) ([]mxgrid.Call, error) {
	attrs := map[string]string{
		"lr": fmt.Sprint(f.lr), "momentum": fmt.Sprint(f.momentum), "wd": fmt.Sprint(f.wd),
		"rescale_grad": fmt.Sprint(1 / float64(f.batch)),
	}
	var calls []mxgrid.Call
	for i, name := range exec.ArgNames {
		grad, ok := exec.Grad(name)
		if !ok {
			continue
		}
		w := exec.Args[i]
		mom, err := sess.Zeros(ctx, w.DType, w.Shape, w.Context)
		if err != nil {
			return nil, err
		}
		calls = append(calls, mxgrid.Call{Op: "sgd_mom_update", Attrs: attrs,
			Inputs: []mxgrid.Array{w, grad, mom}, Outputs: []mxgrid.Array{w}})
	}
	if len(calls) == 0 {
		return nil, errors.New("the symbol has no argument with a gradient to train")
	}
	return calls, nil
}

// bindEval binds the symbol for the whole held-out split at once, sharing the training
// executor's weights (symbol.bind with the same arrays): data and labels are uploaded once.
func bindEval(ctx context.Context, sess *mxgrid.Session, symbol string, exec *mxgrid.Executor,
	test digits) (*mxgrid.Executor, error) {
	x, err := mxgrid.NewTensor(test.pixels, int64(test.n()), features)
	if err != nil {
		return nil, err
	}
	y, err := mxgrid.NewTensor(test.labels, int64(test.n()))
	if err != nil {
		return nil, err
	}
	args := append([]mxgrid.Array(nil), exec.Args...)
	for i, name := range exec.ArgNames {
		switch name {
		case "data":
			args[i], err = sess.Upload(ctx, x, mxgrid.CPU(0))
		case "softmax_label":
			args[i], err = sess.Upload(ctx, y, mxgrid.CPU(0))
		}
		if err != nil {
			return nil, err
		}
	}
	return sess.Bind(ctx, symbol, mxgrid.BindOptions{Args: args, Aux: exec.Aux})
}

// evaluate is the accuracy of a forward pass (is_train=False) over the held-out split.
func evaluate(ctx context.Context, eval *mxgrid.Executor, test digits) (float64, error) {
	probs, err := eval.Forward(ctx, mxgrid.ForwardOptions{ReturnValues: true})
	if err != nil {
		return 0, err
	}
	y, err := mxgrid.NewTensor(test.labels)
	if err != nil {
		return 0, err
	}
	correct, err := countCorrect(probs[0], y)
	return float64(correct) / float64(test.n()), err
}

// countCorrect counts the rows of probs (n x classes) whose largest entry is the label's.
func countCorrect(probs, labels *mxgrid.Tensor) (int, error) {
	p, err := mxgrid.Values[float32](probs)
	if err != nil {
		return 0, err
	}
	y, err := mxgrid.Values[float32](labels)
	if err != nil {
		return 0, err
	}
	if len(p) != len(y)*classes {
		return 0, fmt.Errorf("%d probabilities for %d labels", len(p), len(y))
	}
	correct := 0
	for i, label := range y {
		row := p[i*classes : (i+1)*classes]
		best := 0
		for j := range row {
			if row[j] > row[best] {
				best = j
			}
		}
		if best == int(label) {
			correct++
		}
	}
	return correct, nil
}

// gather returns the batch of images at rows as tensors (batch x 64) and (batch,).
func gather(d digits, rows []int) (*mxgrid.Tensor, *mxgrid.Tensor) {
	x := make([]float32, 0, len(rows)*features)
	y := make([]float32, 0, len(rows))
	for _, r := range rows {
		x = append(x, d.pixels[r*features:(r+1)*features]...)
		y = append(y, d.labels[r])
	}
	xt, _ := mxgrid.NewTensor(x, int64(len(rows)), features) // sizes match by construction
	yt, _ := mxgrid.NewTensor(y)
	return xt, yt
}

// loadDigits reads train.params and test.params (mx.nd.save dicts of "data" (n, 64) and
// "label" (n,), float32) from dir, or from tests/graph_golden/data/digits in the working
// directory or a folder above it.
func loadDigits(dir string) (train, test digits, err error) {
	if dir == "" {
		if dir, err = findDigits(); err != nil {
			return train, test, err
		}
	}
	if train, err = loadSplit(filepath.Join(dir, "train.params")); err != nil {
		return train, test, err
	}
	test, err = loadSplit(filepath.Join(dir, "test.params"))
	return train, test, err
}

func findDigits() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		candidate := filepath.Join(d, "tests", "graph_golden", "data", "digits")
		if _, err := os.Stat(filepath.Join(candidate, "train.params")); err == nil {
			return candidate, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("tests/graph_golden/data/digits not found in %s or above; pass -data", wd)
		}
	}
}

func loadSplit(path string) (digits, error) {
	named, err := mxgrid.LoadParams(path)
	if err != nil {
		return digits{}, err
	}
	data, label := named["data"], named["label"]
	if data == nil || label == nil || len(data.Shape) != 2 || data.Shape[1] != features ||
		len(label.Shape) != 1 || label.Shape[0] != data.Shape[0] {
		return digits{}, fmt.Errorf("%s: want \"data\" (n, %d) and \"label\" (n,)", path, features)
	}
	var d digits
	if d.pixels, err = mxgrid.Values[float32](data); err != nil {
		return digits{}, fmt.Errorf("%s: data: %w", path, err)
	}
	if d.labels, err = mxgrid.Values[float32](label); err != nil {
		return digits{}, fmt.Errorf("%s: label: %w", path, err)
	}
	return d, nil
}
