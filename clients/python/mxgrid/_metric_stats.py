"""The statistics metrics of mx.metric: F1 and MCC of binary classification, and
PearsonCorrelation, with MXNet 1.9.1's values (its 'macro' average is the mean of per-update
scores; 'micro' scores everything seen since the last reset).

Thread-safety: not thread-safe (as MXNet's).
"""
import math

import numpy

from . import metric as _m


class _Confusion:
    """Binary confusion counts: this period's (reset by reset_local) and all-time."""

    def __init__(self):
        self.local = numpy.zeros(4)  # tp, fp, fn, tn
        self.total = numpy.zeros(4)

    def add(self, label, pred):
        pred = _m._host(pred)
        label = _m._host(label).astype("int32")
        guess = numpy.argmax(pred, axis=1)
        _m.check_label_shapes(label, pred)
        if len(numpy.unique(label)) > 2:
            raise ValueError("binary classification only: labels hold more than two classes")
        pos, truth = guess == 1, label == 1
        counts = numpy.array([(pos & truth).sum(), (pos & ~truth).sum(),
                              (~pos & truth).sum(), (~pos & ~truth).sum()], dtype=float)
        self.local += counts
        self.total += counts

    def reset(self, local_only=False):
        self.local[:] = 0
        if not local_only:
            self.total[:] = 0

    @staticmethod
    def fscore(c):
        tp, fp, fn, _ = c
        precision = tp / (tp + fp) if tp + fp > 0 else 0.
        recall = tp / (tp + fn) if tp + fn > 0 else 0.
        if precision + recall == 0:
            return 0.
        return 2 * precision * recall / (precision + recall)

    @staticmethod
    def mcc(c):
        tp, fp, fn, tn = (float(v) for v in c)
        if tp + fp + fn + tn == 0:
            return 0.
        denom = 1.
        for term in (tp + fp, tp + fn, tn + fp, tn + fn):
            if term != 0:  # MXNet leaves empty margins out of the product
                denom *= term
        return (tp * tn - fp * fn) / math.sqrt(denom)


class _BinaryScore(_m.EvalMetric):
    """A score of the confusion counts, averaged per update ('macro') or over all ('micro')."""

    _score = None

    def __init__(self, name, output_names=None, label_names=None, average="macro"):
        self.average = average
        self._counts = _Confusion()
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, labels, preds):
        labels, preds = _m.check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            self._counts.add(label, pred)
        local, total = self._counts.local, self._counts.total
        score = type(self)._score
        if self.average == "macro":
            self.sum_metric += score(local)
            self.global_sum_metric += score(total)
            self.num_inst += 1
            self.global_num_inst += 1
            self._counts.reset()
        else:
            self.sum_metric = score(local) * local.sum()
            self.global_sum_metric = score(total) * total.sum()
            self.num_inst = local.sum()
            self.global_num_inst = total.sum()

    def reset(self):
        super().reset()
        if hasattr(self, "_counts"):
            self._counts.reset()

    def reset_local(self):
        super().reset_local()
        self._counts.reset(local_only=True)


@_m.register
class F1(_BinaryScore):
    """F1 score of binary classification (the predicted class is argmax over axis 1)."""

    _score = staticmethod(_Confusion.fscore)

    def __init__(self, name="f1", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)


@_m.register
class MCC(_BinaryScore):
    """Matthews correlation coefficient of binary classification."""

    _score = staticmethod(_Confusion.mcc)

    def __init__(self, name="mcc", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)


@_m.register
class PearsonCorrelation(_m.EvalMetric):
    """Pearson correlation of predictions and labels: per update averaged ('macro'), or
    streamed over everything since the reset ('micro', MXNet's running estimate)."""

    def __init__(self, name="pearsonr", output_names=None, label_names=None,
                 average="macro"):
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def _reset_stream(self):
        # (count, mean, sum of squared deviations) of labels and of predictions; covariance.
        self._labels = [0, 0., 0.]
        self._preds = [0, 0., 0.]
        self._cov = 0.

    def reset(self):
        super().reset()
        self._reset_stream()

    @staticmethod
    def _welford(stats, values):
        count, mean, m2 = stats
        count += len(values)
        delta = values - mean
        mean += numpy.sum(delta / count)
        m2 += numpy.sum(delta * (values - mean))
        return [count, mean, m2]

    def update(self, labels, preds):
        labels, preds = _m.check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            _m.check_label_shapes(label, pred, False, True)
            label = _m._host(label).ravel().astype(numpy.float64)
            pred = _m._host(pred).ravel().astype(numpy.float64)
            self.num_inst += 1
            self.global_num_inst += 1
            if self.average == "macro":
                r = numpy.corrcoef(pred, label)[0, 1]
                self.sum_metric += r
                self.global_sum_metric += r
                continue
            # The label mean is updated before, the prediction mean after the covariance
            # term, as MXNet 1.9.1's streaming estimate does.
            self._labels = self._welford(self._labels, label)
            self._cov += numpy.sum((label - self._labels[1]) * (pred - self._preds[1]))
            self._preds = self._welford(self._preds, pred)

    def get(self):
        if self.num_inst == 0:
            return (self.name, float("nan"))
        if self.average == "macro":
            return (self.name, self.sum_metric / self.num_inst)
        n = self._labels[0]
        return (self.name, self._cov / ((n - 1) * numpy.sqrt(self._preds[2] / (n - 1)) *
                                        numpy.sqrt(self._labels[2] / (n - 1))))


@_m.register
class PCC(_m.EvalMetric):
    """The K-class generalization of MCC (Gorodkin's R_K) from a confusion matrix that
    grows with the largest class seen: +1 for perfect predictions, nan when every label or
    every prediction is one class. Per period (reset_local) and since the reset."""

    def __init__(self, name="pcc", output_names=None, label_names=None,
                 has_global_stats=True):
        self._classes = 2
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=has_global_stats)

    @staticmethod
    def _score(confusion):
        total = confusion.sum()
        predicted = confusion.sum(axis=1)
        actual = confusion.sum(axis=0)
        var_pred = numpy.sum(predicted * (total - predicted))
        var_actual = numpy.sum(actual * (total - actual))
        if var_pred == 0 or var_actual == 0:
            return float("nan")
        cov = numpy.sum(confusion.diagonal() * total - predicted * actual)
        return cov / math.sqrt(var_pred * var_actual)

    def _widen(self, classes):
        grow = classes - self._classes
        self._local = numpy.pad(self._local, ((0, grow), (0, grow)))
        self._total = numpy.pad(self._total, ((0, grow), (0, grow)))
        self._classes = classes

    def update(self, labels, preds):
        labels, preds = _m.check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label = _m._host(label).astype("int32")
            pred = _m._host(pred)
            pred = pred.argmax(axis=1) if pred.shape != label.shape else pred.astype("int32")
            top = int(max(pred.max(), label.max()))
            if top >= self._classes:
                self._widen(top + 1)
            counts = numpy.zeros((self._classes, self._classes))
            numpy.add.at(counts, (pred.ravel(), label.ravel()), 1)
            self._local += counts
            self._total += counts
        self.num_inst += 1
        self.global_num_inst += 1

    def reset(self):
        self._classes = getattr(self, "_classes", 2)
        self._total = numpy.zeros((self._classes, self._classes))
        super().reset()
        self.reset_local()

    def reset_local(self):
        self.num_inst = 0
        self._local = numpy.zeros((self._classes, self._classes))

    def get(self):
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, self._score(self._local))

    def get_global(self):
        if not self._has_global_stats:
            return self.get()
        if self.global_num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, self._score(self._total))
