"""Training callbacks: beta schedules and control (`BetaScheduler`, `PieceWiseSchedule`, `BetaPID`),
Pareto-front checkpoints (`ParetoFront`), a progress bar (`PBar`) and EBOPs-aware early stopping
(`EarlyStoppingWithEbops`). All reach H-layers inside nested models; the ones that read EBOPs take them from
``logs['bops']``, so put `FreeBOPs` (or `CalibratedBOPs`) before them in the callback list."""

from .beta import BetaPID, BetaScheduler, PieceWiseSchedule
from .early_stopping import EarlyStoppingWithEbops
from .pareto import ParetoFront
from .pbar import PBar

__all__ = ['BetaPID', 'BetaScheduler', 'EarlyStoppingWithEbops', 'PBar', 'ParetoFront', 'PieceWiseSchedule']
