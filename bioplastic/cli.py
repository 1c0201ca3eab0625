"""Command line: ``bioplastic run CONFIG [key=value ...]`` and ``bioplastic models [NAME]``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bioplastic.errors import BioplasticError


def _run(args) -> int:
    from bioplastic.config import dump, load_config
    from bioplastic.results import default_out_dir, run_directory
    from bioplastic.studies import study_module

    config = load_config(args.config, args.overrides, quick=args.quick)
    if args.device:
        config["device"]["name"] = args.device
    if args.workers:
        config["workers"] = args.workers
    study = study_module(config["study"])
    out = Path(args.out) if args.out else default_out_dir(args.config)
    if args.print_config:
        print(dump(config))
        return 0
    print(f"bioplastic: running {args.config} ({config['study']}) on {config['device']['name']}; "
          f"seeds {config['seeds']}; results -> {out}")
    with run_directory(out, config, command=sys.argv, overwrite=args.overwrite) as work_dir:
        metrics = study.run(config, work_dir)
    print(f"\nDone. Results and figures are in {out}/")
    for path in sorted(out.iterdir()):
        print(f"  {path}")
    summary = getattr(study, "summary_text", None)
    if summary:
        print(summary(metrics))
    return 0


def _models(args) -> int:
    from bioplastic.models import NEURON_MODELS, PLASTICITY_RULES, get_neuron_model, get_plasticity_rule

    if args.name:
        model = (get_plasticity_rule(args.name) if args.name in PLASTICITY_RULES else get_neuron_model(args.name))
        print(model.describe())
        return 0
    print("Neuron models (bioplastic models NAME prints equations and parameters):")
    for name, model in sorted(NEURON_MODELS.items()):
        print(f"  {name:<22} {model.description}")
    print("\nPlasticity rules:")
    for name, rule in sorted(PLASTICITY_RULES.items()):
        print(f"  {name:<22} {rule.description}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bioplastic", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an experiment YAML (see experiments/)")
    run.add_argument("config", help="experiment file, e.g. experiments/supervised_stdp_alltd.yaml")
    run.add_argument("overrides", nargs="*", help="key=value overrides, e.g. network.n_per_class=20 seeds=[0,1]")
    run.add_argument("--device", choices=["runtime", "cpp_standalone", "genn", "cuda_standalone"])
    run.add_argument("--out", help="output directory (default: results/<config>-<time>)")
    run.add_argument("--quick", action="store_true", help="apply the config's `quick:` overrides (small, minutes)")
    run.add_argument("--workers", type=int, help="parallel Dask worker processes")
    run.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    run.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    run.set_defaults(func=_run)
    models = sub.add_parser("models", help="list models, or print one model's equations and parameters")
    models.add_argument("name", nargs="?")
    models.set_defaults(func=_models)
    # key=value overrides may come before or after the options.
    args, extra = parser.parse_known_args(argv)
    stray = [item for item in extra if item.startswith("-") or "=" not in item or args.command != "run"]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = list(args.overrides) + extra
    try:
        return args.func(args)
    except BioplasticError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: no result was written (the partial run directory ends in .partial).", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
