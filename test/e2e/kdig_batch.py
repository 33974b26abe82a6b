"""One kdig process for several queries: spawning kdig dominates the cost of
a query, so the answer-checking tests (t_steer_geo.sh, dnsdist.py) send a
batch of queries per kdig and cut its output into one block per query."""
import subprocess


def kdig_blocks(argv, n):
    """Runs kdig with `argv` (holding n queries); returns (blocks, text):
    one text block per query, each ending at its ";; From" line (or kdig's
    "failed to query" error), or None when the output does not split into
    n blocks. `text` is kdig's whole output."""
    t = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    blocks, cur = [], []
    for line in t.splitlines():
        cur.append(line)
        if line.startswith(";; From ") or line.startswith(";; ERROR: failed to query"):
            blocks.append("\n".join(cur))
            cur = []
    return (blocks if len(blocks) == n else None), t
