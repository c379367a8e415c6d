"""Suggestion quality on real data: import → train → accuracy preview, per dataset.

For each data file: the tickets are imported into a fresh SQLite store (the product's
importer), read back, trained on (the product's account pipeline: holdout = newest 20%), and
the promoted version is scored on its holdout beside the baselines (the product's preview).
Prints the table, writes benchmarks/results/quality_<dataset>.json (the full preview report
plus the training numbers) and rewrites the quality section of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/quality.py --max-steps 80 --preview-tickets 120 \\
        ../shared/data/canonical/tweetsumm.jsonl ../shared/data/canonical/bitext.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS = Path(__file__).with_name("results")
RESULTS_MD = Path(__file__).with_name("RESULTS.md")
SHARED = REPO.parent / "shared" / "data" / "canonical"
START, END = "<!-- quality:start -->", "<!-- quality:end -->"


def first_lines(path: Path, limit: int | None, folder: Path) -> Path:
    """``path`` itself, or a copy of its first ``limit`` lines in ``folder``."""
    if not limit:
        return path
    copy = folder / path.name
    with open(path, "rb") as src, open(copy, "wb") as dst:
        for i, line in enumerate(src):
            if i >= limit:
                break
            dst.write(line)
    return copy


def run_dataset(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Import, train and preview one data file in a temporary home."""
    from plugin_backend.db import connect
    from plugin_backend.importer import import_file
    from plugin_backend.store import get_tenant, iter_tickets
    from trainer.config import TrainConfig
    from trainer.embeddings import shared_embedder
    from trainer.inference import LocalBackend
    from trainer.pipeline import PipelineOptions, train_account
    from trainer.preview import PreviewOptions, run_preview
    from trainer.registry import AdapterRegistry
    from trainer.suggest import Account

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        sessions = connect(f"sqlite:///{home / 'clonedesk.db'}")
        source = first_lines(path, args.limit, home)
        started = time.monotonic()
        imported = import_file(source, sessions, "bench", 500)
        with sessions() as session:
            tickets = list(iter_tickets(session, get_tenant(session, "bench")))
        import_s = time.monotonic() - started
        print(f"{path.name}: imported {imported.inserted} tickets ({imported.rejected} "
              f"rejected) in {import_s:.1f} s", flush=True)
        config = TrainConfig(cache_dir=str(args.cache_dir), epochs=args.epochs,
                             max_minutes=args.minutes, max_steps=args.max_steps)
        embedder = shared_embedder()
        backend = LocalBackend(config.base_model, args.cache_dir, device=config.device)
        registry = AdapterRegistry(home / "adapters", "bench")
        t0 = time.monotonic()
        run = train_account(tickets, home / "work", registry, config, embedder,
                            PipelineOptions(max_validation_tickets=args.validation_tickets,
                                            max_new_tokens=args.max_new_tokens),
                            log=lambda line: print(" ", line, flush=True), backend=backend)
        train_s = time.monotonic() - t0
        current = registry.current()
        assert current is not None
        holdout_ids = set(current.metadata["split"]["holdout_ids"])
        holdout = [t for t in tickets if t.id in holdout_ids]
        account = Account.load(current.path, f"bench-{current.version}", embedder)
        t1 = time.monotonic()
        report = run_preview(holdout, account, {"version": current.version,
                                                "metadata": current.metadata},
                             backend, backend.tokenizer, embedder,
                             PreviewOptions(max_tickets=args.preview_tickets,
                                            max_new_tokens=args.max_new_tokens),
                             log=lambda line: print(" ", line, flush=True))
        preview_s = time.monotonic() - t1
    return {"data": path.name, "tickets": len(tickets), "import_s": round(import_s, 1),
            "train_s": round(train_s, 1), "preview_s": round(preview_s, 1),
            "train": run.train.to_dict(), "counts": run.metadata["counts"],
            "validation": run.metadata["validation"], "report": report}


def table(result: dict[str, Any]) -> list[str]:
    """Markdown table of one dataset's preview."""
    from plugin_backend.preview_report import label

    report = result["report"]
    train = result["train"]
    lines = [
        f"**{result['data']}** — {result['tickets']} tickets; trained {train['steps']} steps "
        f"({train['epochs_done']:.2f} epochs, {train['tokens_per_s']:.0f} tokens/s, "
        f"{result['train_s'] / 60:.1f} min with validation); served mode "
        f"**{report['mode']}**; escalation signal {report['escalation_signal']['signal']}; "
        f"{report['counts']['scored']} holdout tickets scored"
        + (f" (evenly thinned from {report['counts']['thinned_from']})"
           if report["counts"]["thinned_from"] else "") + ".",
        "",
        ("| method | acceptable | projected automated | decision acc. | escalation P / R / F1 "
        "| mean cosine | ROUGE-L | specific@20 | ECE |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in report["methods"].items():
        x = m["overall"]
        e = x["escalation"]
        lines.append(
            f"| {label(name)} | {x['acceptable_rate']:.1%} | "
            f"{x['projected_automated_resolution_rate']:.1%} | {x['decision_accuracy']:.1%} | "
            f"{e['precision']:.2f} / {e['recall']:.2f} / {e['f1']:.2f} | "
            f"{x['reply_quality']['mean_cosine']:.3f} | {x['reply_quality']['mean_rouge_l']:.3f} "
            f"| {x['reply_quality']['specific_rate']:.1%} | {x['confidence']['ece']:.3f} |")
    return lines


def update_results_md() -> None:
    """Rewrite the quality section of RESULTS.md (between the markers) from every
    results/quality_*.json (each dataset keeps its latest run)."""
    body = [START, "Written by `benchmarks/quality.py` from `benchmarks/results/quality_*.json`.",
            ""]
    for path in sorted(RESULTS.glob("quality_*.json")):
        result = json.loads(path.read_text())
        body += [(f"Measured {result['date']} on {result['machine']}; options "
                 f"`{result['options_line']}`."), ""]
        body += table(result) + [""]
    body.append(END)
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else "# Benchmark results\n"
    section = "\n".join(body)
    if START in text and END in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: section, text,
                      flags=re.DOTALL)
    else:
        text = text.rstrip() + "\n\n## Suggestion quality (accuracy preview)\n\n" + section + "\n"
    RESULTS_MD.write_text(text)


def main() -> None:
    """Run every dataset, print and record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="*",
                        default=[SHARED / "tweetsumm.jsonl", SHARED / "bitext.jsonl"])
    parser.add_argument("--minutes", type=float, default=None, help="training-loop budget")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--limit", type=int, default=None, help="first N tickets of each file")
    parser.add_argument("--validation-tickets", type=int, default=100)
    parser.add_argument("--preview-tickets", type=int, default=None,
                        help="score an even spread of this many holdout tickets (default all)")
    parser.add_argument("--max-new-tokens", type=int, default=160,
                        help="longest generated reply (CloneDesk and the base-model baselines)")
    parser.add_argument("--cache-dir", type=Path, default=REPO / "var" / "test-cache")
    parser.add_argument("--no-results-md", action="store_true")
    args = parser.parse_args()
    missing = [p for p in args.data if not p.is_file()]
    if missing:
        parser.error(f"missing data files: {', '.join(map(str, missing))}")
    machine = f"{platform.platform()} ({platform.processor() or platform.machine()})"
    for path in args.data:
        result = run_dataset(path, args)
        result.update(date=date.today().isoformat(), machine=machine,
                      options={k: str(v) for k, v in vars(args).items()},
                      options_line=" ".join(sys.argv[1:]))
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"quality_{path.stem}.json"
        # No ticket text in the repository: the shared data's licences forbid copying it.
        result["report"].pop("samples", None)
        out.write_text(json.dumps(result, indent=1))
        print("\n".join(table(result)), f"\nwrote {out}\n", sep="\n", flush=True)
        if not args.no_results_md:
            update_results_md()
        print(f"updated {RESULTS_MD}")


if __name__ == "__main__":
    main()
