"""How much the baselines may cost: about a tenth of the study's expected training time.

The bounds are counts (training rows, boosting iterations) computed from the sizes of the study and its
data with per-unit costs measured on one CPU thread (STACK-NOTES section 6), never from a clock: the same
study file gives the same baselines on any machine.

    expected study  = trials x epochs a trial is expected to run x (steps x STEP + rows x 6 x MACs / FLOPS),
                      MACs those of the widest MLP, or CNN (its convolutions), the space offers
    budget          = max(MIN_BUDGET, SHARE x expected study), half of it for each baseline
    boosting        = rows x features x trees per iteration x BOOSTING_CELL per iteration
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.spec.distributions import values_of

SHARE = 0.1  # of the study's expected time
MIN_BUDGET = 3.0  # seconds: below this a baseline is cheap whatever the study, so no bound is worth it
STEP_SECONDS = 350e-6  # fixed cost of one optimizer step of a small network (Python, autograd, optimizer)
FLOPS = 80e9  # floating-point operations per second of a training batch (an MLP 32-128-128-1: 1.5 us a row)
BOOSTING_CELL_SECONDS = 50e-9  # histogram boosting: one row x feature x tree (measured: 55 ns, 1 thread)
LINEAR_CELL_SECONDS = 0.5e-9  # one lbfgs pass of logistic regression: one row x feature x class
LINEAR_PASSES = 7 * 100  # 7 values of C, about a hundred lbfgs iterations each
MIN_ITERATIONS = 20  # boosting with fewer iterations says little: sample rows instead
MIN_ROWS = 1000


@dataclass
class Bounds:
    """What the budget allows the baselines: None means no bound applied."""

    seconds: float  # the whole budget
    expected_study: float  # the study's expected training time it came from
    rows: int | None = None  # training rows sampled for both baselines
    boosting_iterations: int | None = None  # at most this many boosting iterations

    def note(self, n_rows: int, boosting_stopped_by_bound: bool) -> str | None:
        """How the budget bounded one baseline (`... within a budget of ...`), or None."""
        parts = []
        if self.rows is not None:
            parts.append(f"fitted on {self.rows:,} of {n_rows:,} training rows")
        if boosting_stopped_by_bound:
            parts.append(f"stopped at {self.boosting_iterations} boosting iterations before early stopping")
        if not parts:
            return None
        return (f"{' and '.join(parts)}, within a budget of {self.seconds:.0f}s (about a tenth of the study's "
                f"expected {self.expected_study:.0f}s of training)")


def expected_study_seconds(spec, n_train: int, n_features: int) -> float:
    """Training time the study is expected to take: every trial runs until early stopping could end it
    (three patiences) or its epochs run out, at the smallest batch size and the widest MLP the space offers."""
    epochs = min(spec.train.epochs, 3 * spec.train.early_stopping.patience)
    batch = max(1, min(int(b) for b in values_of(spec.train.batch_size)))
    steps = -(-n_train // batch)
    width = max(int(h) for h in values_of(spec.model.hidden))
    layers = max(int(n) for n in values_of(spec.model.n_layers))
    macs = n_features * width + (layers - 1) * width * width + width  # multiply-adds of one row, forward
    if "cnn" in values_of(spec.model.family):
        macs = max(macs, cnn_macs(spec, n_features))
    return spec.study.trials * epochs * (steps * STEP_SECONDS + n_train * 6 * macs / FLOPS)


def cnn_macs(spec, n_features: int) -> int:
    """Multiply-adds of one image through the widest CNN the space offers: each block's convolution over
    a map a quarter of the last one's, channels doubling. The pixels are taken as n_features, exact for
    the first block (pixels x channels in) and at most 3x too many after it (colour images)."""
    blocks = max(int(b) for b in values_of(spec.model.conv_blocks))
    channels = max(int(c) for c in values_of(spec.model.channels))
    kernel = max(int(k) for k in values_of(spec.model.kernel_size))
    macs, pixels, in_channels = 0, n_features, 1
    for block in range(blocks):
        out = channels * 2 ** block
        macs += pixels * in_channels * out * kernel * kernel
        pixels, in_channels = max(1, pixels // 4), out
    return macs


def bounds(spec, n_train: int, n_features: int, n_classes: int | None, max_iterations: int) -> Bounds:
    """Rows and boosting iterations (of `max_iterations` unbounded) the baselines may use, half the budget each."""
    expected = expected_study_seconds(spec, n_train, n_features)
    budget = max(MIN_BUDGET, SHARE * expected)
    trees = n_classes if n_classes and n_classes > 2 else 1
    classes = n_classes or 1
    found = Bounds(budget, expected)
    # Rows: the linear baseline's passes and the minimum of boosting iterations must fit half the budget.
    per_row = max(LINEAR_PASSES * LINEAR_CELL_SECONDS * n_features * classes,
                  MIN_ITERATIONS * BOOSTING_CELL_SECONDS * n_features * trees)
    if n_train * per_row > budget / 2 and n_train > MIN_ROWS:
        found.rows = max(MIN_ROWS, int(budget / 2 / per_row))
    rows = found.rows or n_train
    iterations = int(budget / 2 / (rows * n_features * trees * BOOSTING_CELL_SECONDS))
    if iterations < max_iterations:
        found.boosting_iterations = max(MIN_ITERATIONS, iterations)
    return found
