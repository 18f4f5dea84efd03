"""Engine layer: the method registry, planning (which runs are done, pending or blocked), the
runner that fits and evaluates one unit, the executors, the shared training loop, tuning and the
regression comparison. Never imported by ``boards``."""
