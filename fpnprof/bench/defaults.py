"""The stopping rule's defaults, in a module of their own so the CLI's help can show them without
importing the scheduler."""

#: Default target: every ratio's 95% interval within ±2.5%.
PRECISION = 0.025
#: Default wall cap on measuring, in seconds (the whole command stays within 90 s on 2 cores).
MAX_TIME_S = 75.0
#: At least this many workers per group before a run may stop (with 4, the A/A check missed 1.00 in
#: 3 of 20 runs: a few workers that agree by chance give too narrow an interval).
MIN_WORKERS = 5
MAX_WORKERS = 60
