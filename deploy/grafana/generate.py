"""Write the operators' dashboards (dashboards.py) to deploy/grafana/dashboards/*.json.

.venv/bin/python deploy/grafana/generate.py
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dashboards import dashboards, render  # noqa: E402  (beside this script, not a package)

if __name__ == "__main__":
    for name, builder in dashboards().items():
        path = HERE / "dashboards" / name
        path.write_text(render(builder))
        print(f"written: {path}")
