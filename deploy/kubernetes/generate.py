"""Write the KafkaUser and KafkaTopic resources of the reference policy set into generated/.

Run from the repository: `.venv/bin/python deploy/kubernetes/generate.py`. A unit test
(tests/unit/test_strimzi_generated.py) fails when the committed files differ from what this
writes now (a policy, catalogue, ACL or retention change, or a grant that expired).
"""

from pathlib import Path

from bus.control.strimzi.reference import reference_files

HERE = Path(__file__).resolve().parent
REFERENCE_POLICY = HERE.parents[1] / "policies" / "reference"


def main() -> None:
    """Regenerate deploy/kubernetes/generated/."""
    out = HERE / "generated"
    out.mkdir(exist_ok=True)
    for name, content in reference_files(REFERENCE_POLICY).items():
        (out / name).write_text(content)
        print(f"written: {out / name}")


if __name__ == "__main__":
    main()
