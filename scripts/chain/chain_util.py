"""What the localnet's Python scripts share."""

import signal
import sys

TAO = 10**9


def give_up_after(seconds, what):
    """A stuck node (e.g. lost finality) must fail the run, not hang it."""

    def expired(_signum, _frame):
        print(f"{what}: gave up after {seconds} s (is the chain still producing and finalizing blocks?)", file=sys.stderr)
        sys.exit(2)

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
