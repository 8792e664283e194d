"""Coverage-guided fuzzing (atheris / libFuzzer) of the two file parsers that take outside input.

Run:  pip install atheris                      (not a project dependency; builds on Python 3.11)
      python benchmarks/fuzz_parsers.py                        (every target, 60 s each)
      python benchmarks/fuzz_parsers.py --target fhir --seconds 300
      python benchmarks/fuzz_parsers.py --out fuzz-out       (keep the corpus and findings)

Targets:

* ``csv`` — `twostep.interop.long_format.read_long` on the fuzzed bytes written
  to a ``.csv`` file (encoding, dialect, header and every row rule; the
  parsing itself is pyarrow's C++ reader);
* ``csv-structured`` — the same reader on CSV files *built* from the fuzzed
  bytes (``atheris.FuzzedDataProvider``): a header of mostly known columns
  and rows of likely cells (numbers at and past the limits, impossible and
  zone-less dates, DST-gap times, formulas, other encodings), so that the
  row rules are reached far more often than by mutating raw bytes;
* ``fhir`` — `twostep.interop.fhir.responses.import_responses` on the fuzzed
  bytes (strict JSON, QuestionnaireResponse / Bundle structure, references,
  dates, item and answer mapping, scoring).

The twostep modules are instrumented for coverage (``atheris.instrument_imports``),
libFuzzer mutates a seed corpus of valid inputs (written at start: the README's
long table, item-level and dated variants; FHIR exports of PHQ-9, GAD-7 and
CORE-10 responses and a Bundle of them) with a dictionary of the formats'
tokens. The property: **only documented errors escape** — `ValidationError`
and its subclasses (`InputFileError`, `FhirImportError`) — never a crash,
``KeyError``, ``RecursionError``, ``UnicodeError`` or an arrow exception.
libFuzzer stops at the first other exception, prints its traceback and
saves the input as ``crash-<sha1>`` in the artifacts folder; the summary
lists runs, coverage and findings per target. Exit status 1 on a finding.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGETS = ("csv", "csv-structured", "fhir")
RECEIVED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

CSV_SEEDS = [
    "client_id,session,date,instrument,score\n"
    "C001,1,2025-01-06,phq9,19\nC001,2,2025-01-13,phq9,\nC001,3,2025-01-20,phq9,14\n",
    "client_id,session,instrument,item_1,item_2,item_3,item_4,item_5,item_6,item_7\n"
    "A,1,gad7,1,2,3,0,1,2,3\nA,2,gad7,0,0,1,,1,0,0\nB,1,gad7,3,3,3,3,3,3,3\n",
    "client_id,date,score\nX-1,2025-03-30T01:30:00+01:00,12\nX-1,2025-04-06,9.5\n",
    '\ufeffclient_id,session,score\n"C,1",1,10\n"C,1",2,"8"\r\n',
]
CSV_TOKENS = [
    "client_id", "session", "date", "instrument", "score", "item_1", "item_9", "phq9",
    "gad7", "core10", ",", ";", '"', "\r\n", "\ufeff", "T00:00:00Z", "+01:00", "2025-02-30",
    "NaN", "inf", "-1", "1e308", "=HYPERLINK(", "N/A",
]  # fmt: skip


def csv_target() -> Callable[[bytes], None]:
    from twostep.errors import ValidationError
    from twostep.interop.long_format import read_long

    path = Path(tempfile.mkdtemp(prefix="twostep-fuzz-csv-")) / "input.csv"

    def one(data: bytes) -> None:
        path.write_bytes(data)
        with contextlib.suppress(ValidationError):  # documented: InputFileError
            read_long(path)

    return one


COLUMNS = [
    "client_id", "session", "date", "completed_at", "instrument", "score", "therapist_id",
    "site", "episode_id", "item_1", "item_2", "item_9", "item_10", "item_0", "Score", "",
]  # fmt: skip
CELLS = [
    "", " ", "C1", "C2", "1", "2", "0", "-1", "3.5", "1e3", "999999999", "1000000000", "NaN",
    "inf", "N/A", " 2 ", "2025-01-06", "2025-02-30", "2025-03-30T01:30:00", "2025-03-30T01:30Z",
    "2025-03-30 01:30:00+01:00", "9999-12-31T23:59:59-23:59", "0001-01-01", "03/04/2025",
    "45748", "phq9", "gad7", "core10", "ors", "PHQ9", "=1+1", "\u0000", "é", '"q"',
]  # fmt: skip


def structured_csv(data: bytes, atheris: Any) -> bytes:
    """A CSV built from the bytes: a header of (mostly) known columns, rows of likely cells."""
    fdp = atheris.FuzzedDataProvider(data)

    def free_text(n: int) -> str:  # mostly without the CSV's own structure characters
        text: str = fdp.ConsumeUnicode(n)
        return text if fdp.ConsumeProbability() < 0.1 else re.sub(r'[,"\r\n\x00-\x08]', "", text)

    header = ["client_id", "session"] if fdp.ConsumeProbability() < 0.8 else []
    for _ in range(fdp.ConsumeIntInRange(1, 6)):
        name = fdp.PickValueInList(COLUMNS) if fdp.ConsumeProbability() < 0.85 else free_text(6)
        if name not in header or fdp.ConsumeProbability() < 0.05:
            header.append(name)
    lines = [",".join(header)]
    for _ in range(fdp.ConsumeIntInRange(0, 12)):
        width = len(header) if fdp.ConsumeProbability() < 0.95 else fdp.ConsumeIntInRange(0, 9)
        cells = [
            fdp.PickValueInList(CELLS) if fdp.ConsumeProbability() < 0.8 else free_text(8)
            for _ in range(width)
        ]
        lines.append(",".join(cells))
    text = "\r\n".join(lines) + ("\n" if fdp.ConsumeBool() else "")
    # an exhausted provider gives 0: plain UTF-8 then; other encodings now and again
    pick = fdp.ConsumeIntInRange(0, 19)
    encoding = {19: "utf-16", 18: "cp1252", 17: "utf-8-sig"}.get(pick, "utf-8")
    return text.encode(encoding, errors="replace")


def csv_structured_target() -> Callable[[bytes], None]:
    atheris: Any = importlib.import_module("atheris")
    raw = csv_target()

    def one(data: bytes) -> None:
        raw(structured_csv(data, atheris))

    return one


def fhir_seeds() -> list[str]:
    from twostep.domain.records import Administration
    from twostep.instruments.registry import default_catalogue
    from twostep.instruments.scoring import score_submission
    from twostep.interop.fhir.export import questionnaire_response

    cat = default_catalogue()
    out: list[str] = []
    resources: list[dict[str, Any]] = []
    for n, iid in enumerate(("phq9", "gad7", "core10")):
        ins = cat.get(iid)
        given: dict[str, int | None] = {i: k % 3 for k, i in enumerate(ins.item_ids)}
        if n == 1:
            given[ins.item_ids[-1]] = None
        score = score_submission(ins, given)
        answers = {k: (None if v is None else float(v)) for k, v in given.items()}
        adm = Administration(
            id=f"00000000-0000-4000-8000-00000000000{n}",
            clinic_id="clinic-1",
            client_id=f"client-{n}",
            episode_id=None,
            instrument_id=iid,
            answers=answers,
            total=score.total,
            subscales=dict(score.subscales),
            band=score.band,
            case=score.case,
            risk=score.risk,
            risk_level=score.risk_level,
            risk_not_assessed=score.risk_not_assessed,
            prorated=score.prorated,
            completed_at=RECEIVED,
            received_at=RECEIVED,
        )
        qr = dict(questionnaire_response(adm, catalogue=cat))
        resources.append(qr)
        out.append(json.dumps(qr))
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
    out.append(json.dumps(bundle))
    return out


def fhir_target() -> Callable[[bytes], None]:
    from twostep.errors import ValidationError
    from twostep.interop.fhir.responses import import_responses

    def one(data: bytes) -> None:
        with contextlib.suppress(ValidationError):  # documented: FhirImportError
            import_responses(data, clinic_id="clinic-1", received_at=RECEIVED)

    return one


def tokens_of(seeds: list[str]) -> list[str]:
    """JSON string literals and punctuation of the seeds: the fuzzer's dictionary."""
    found = set(re.findall(r'"([^"\\]{1,40})"', "\n".join(seeds)))
    return sorted(found | {"{", "}", "[", "]", ":", ",", "null", "true", "1e999", "-0"})


def write_dict(path: Path, tokens: list[str]) -> None:
    def quoted(token: str) -> str:  # libFuzzer's format: printable ASCII, else \\xHH
        body = "".join(
            chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\x{b:02x}"
            for b in token.encode("utf-8")
        )
        return f'"{body}"'

    lines = [quoted(t) for t in tokens]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def run_one(target: str, seconds: int, corpus: Path, artifacts: Path, max_len: int) -> None:
    """Fuzz one target in this process (libFuzzer exits the process when done)."""
    atheris: Any = importlib.import_module("atheris")
    with atheris.instrument_imports(include=["twostep"]):
        makers = {"csv": csv_target, "csv-structured": csv_structured_target, "fhir": fhir_target}
        one = makers[target]()
        seeds = fhir_seeds() if target == "fhir" else CSV_SEEDS
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        for i, seed in enumerate(seeds):
            (corpus / f"seed-{i}").write_text(seed, encoding="utf-8")
    dictionary = corpus.parent / f"{target}.dict"
    write_dict(dictionary, tokens_of(seeds) + (CSV_TOKENS if target != "fhir" else []))
    args = [
        sys.argv[0],
        f"-max_total_time={seconds}",
        f"-max_len={max_len}",
        "-timeout=20",
        "-rss_limit_mb=3072",
        f"-dict={dictionary}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
        str(corpus),
    ]
    atheris.Setup(args, one)
    atheris.Fuzz()


STAT = re.compile(r"^(stat::\w+:\s+\d+|Done \d+ runs.*|#\d+\s+DONE.*)$", re.MULTILINE)


def run_all(targets: list[str], seconds: int, folder: Path, max_len: int) -> int:
    """Each target in its own process; prints a summary; 1 when any target found something."""
    failed = 0
    for target in targets:
        cmd = [
            sys.executable, __file__, "--target", target, "--seconds", str(seconds),
            "--corpus", str(folder / "corpus" / target), "--artifacts", str(folder / "artifacts"),
            "--max-len", str(max_len), "--child",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        out = proc.stdout + proc.stderr
        crashes = sorted(p.name for p in (folder / "artifacts").glob("crash-*"))
        print(f"== {target}: exit {proc.returncode}")
        for line in STAT.findall(out):
            print("  " + line)
        if proc.returncode != 0:
            failed = 1
            tail = out[out.find("=== Uncaught Python exception") :][:3000] or out[-3000:]
            print("  FINDING:\n" + "\n".join("    " + x for x in tail.splitlines()))
            print(f"  inputs: {crashes}")
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    parser.add_argument("--seconds", type=int, default=60, help="per target")
    parser.add_argument("--out", type=Path, help="keep the corpus and findings in this folder")
    parser.add_argument("--max-len", type=int, default=8192, help="largest input in bytes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--artifacts", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_one(args.target, args.seconds, args.corpus, args.artifacts, args.max_len)
        return
    targets = list(TARGETS) if args.target == "all" else [args.target]
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        sys.exit(run_all(targets, args.seconds, args.out, args.max_len))
    with tempfile.TemporaryDirectory(prefix="twostep-fuzz-") as tmp:
        sys.exit(run_all(targets, args.seconds, Path(tmp), args.max_len))


if __name__ == "__main__":
    main()
