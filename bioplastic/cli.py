"""Command line: ``bioplastic run CONFIG [key=value ...]``, ``bioplastic sweep CONFIG --grid key=v1,v2``,
``bioplastic plot DIR``, ``bioplastic report DIR [DIR ...]``, ``bioplastic merge DIR DIR ... --out DIR`` and
``bioplastic models [NAME]``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bioplastic.errors import BioplasticError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _run(args) -> int:
    from bioplastic.config import dump, load_config
    from bioplastic.results import default_out_dir, run_directory, write_summary
    from bioplastic.studies import study_module

    options = [*([f"device.name={args.device}"] if args.device else []),
               *([f"workers={args.workers}"] if args.workers else [])]
    config = load_config(args.config, [*args.overrides, *options], quick=args.quick)
    study = study_module(config["study"])
    out = Path(args.out) if args.out else default_out_dir(args.config)
    if args.print_config:
        print(dump(config))
        return 0
    print(f"bioplastic: running {args.config} ({config['study']}) on {config['device']['name']}; "
          f"seeds {config['seeds']}; results -> {out}")
    args.interrupted_out = out
    flags = {"quick": args.quick, "device": args.device, "workers": args.workers, "overrides": list(args.overrides),
             "out": args.out, "overwrite": args.overwrite, "extend": args.extend}
    with run_directory(out, config, command=args.command_line, overwrite=args.overwrite, extend=args.extend,
                       extendable=getattr(study, "EXTENDS_FINISHED_RUNS", False), flags=flags,
                       resumable=getattr(study, "resumable_change", None)) as work_dir:
        metrics = study.run(config, work_dir)
        text = write_summary(work_dir, study, metrics, title=config.get("title") or args.config,
                             command=args.command_line)
    print(f"\nDone. Results and figures are in {out}/")
    for path in sorted(out.iterdir()):
        if not path.name.startswith("."):
            print(f"  {path}")
    print(text)
    return 0


def _config(args) -> int:
    import json

    from bioplastic import schema
    from bioplastic.config import check_study

    studies = [check_study(args.study)] if args.study else list(schema.STUDY_SECTIONS)
    if args.json:
        print(json.dumps({study: schema.study_model(study).model_json_schema() for study in studies}, indent=1))
        return 0
    print(schema.markdown(studies))
    return 0


def _sweep(args) -> int:
    from bioplastic.sweep import clusters, points, runner

    if args.resume:
        plan = runner.load_plan(Path(args.resume))
        sweep_dir = Path(args.resume)
    else:
        if not args.config:
            raise BioplasticError("bioplastic sweep needs a CONFIG (an experiment YAML) or --resume DIR.")
        plan = runner.plan_sweep(args.config, args.overrides, grid=points.parse_assignments(args.grid, "--grid"),
                                 zipped=points.parse_assignments(args.zip, "--zip"),
                                 sample=points.parse_ranges(args.sample), samples=args.samples,
                                 sample_seed=args.sample_seed, quick=args.quick, device=args.device,
                                 metric=args.metric)
        sweep_dir = Path(args.out) if args.out else runner.default_sweep_dir(plan)
    if args.metric:
        plan.metric = args.metric
    plan.command = args.command_line
    cluster_section = dict(plan.config["cluster"], **({"kind": args.cluster} if args.cluster else {}))
    if args.workers or args.scheduler:
        cluster_section["kind"] = None                  # --workers / --scheduler choose where it runs
    cluster_section = clusters.check_cluster(cluster_section)
    scheduler = args.scheduler or (None if args.workers else plan.config["scheduler"])
    workers = args.workers or int(plan.config["workers"])
    n_tasks = len(plan.points) * len(plan.seeds)
    where = clusters.describe(workers=workers, scheduler=scheduler, cluster=cluster_section)
    print(f"bioplastic sweep: {len(plan.points)} points x {len(plan.seeds)} seeds = {n_tasks} tasks of "
          f"{plan.config['study']} {where}; results -> {sweep_dir}")
    if args.dry_run:
        for i, point in enumerate(plan.points):
            print(f"  point {i}: " + ", ".join(f"{k}={v}" for k, v in point.items()))
        return 0
    args.interrupted_sweep = sweep_dir
    outcome = runner.run_sweep(plan, sweep_dir, workers=workers, scheduler=scheduler, cluster=cluster_section,
                               progress=not args.no_progress)
    print(f"\n{outcome.done} of {outcome.n_tasks} tasks done ({outcome.executed} run now, "
          f"{outcome.wall_time_s:.0f} s). Results in {outcome.directory}/")
    for path in outcome.files:
        print(f"  {path}")
    if outcome.summary:
        print(outcome.summary)
    if outcome.failed:
        for task, error in outcome.failed.items():
            print(f"\nfailed: {task}\n{error}", file=sys.stderr)
        print(f"\n{len(outcome.failed)} tasks failed (tracebacks above and in {outcome.directory}/index.json); "
              "rerun the same command to retry them.", file=sys.stderr)
        return 1
    return 0


def _plot(args) -> int:
    import warnings

    from bioplastic.results import load_run
    from bioplastic.studies import study_module

    directory = Path(args.dir)
    config, metrics = load_run(directory)
    study = study_module(config["study"])
    plot = getattr(study, "plot", None)
    if plot is None:
        raise BioplasticError(f"the {config['study']} study cannot redraw its figures from a run folder yet "
                              "(it has no plot function).")
    from bioplastic.plotting import FigureSkipped

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FigureSkipped)
        written = plot(metrics, config, directory)
    print(f"bioplastic plot: {len(written)} figure(s) of the {config['study']} run in {directory}/")
    for path in written:
        print(f"  {path}")
    for warning in caught:
        if issubclass(warning.category, FigureSkipped):
            print(f"note: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return 0


def _report(args) -> int:
    from bioplastic.results import load_run
    from bioplastic.studies import study_module

    groups = {}                       # study -> [(folder, config, metrics)], in the order given
    for directory in args.dirs:
        config, metrics = load_run(directory)
        groups.setdefault(config["study"], []).append((directory, config, metrics))
    sections = []
    for name, runs in groups.items():
        report = getattr(study_module(name), "report", None)
        if report is None:
            raise BioplasticError(f"the {name} study has no Markdown report yet ({', '.join(d for d, *_ in runs)}).")
        folders = (":\n\n" + "\n".join(f"{k}. `{d}`" for k, (d, *_) in enumerate(runs, 1)) if len(runs) > 1
                   else f": `{runs[0][0]}`")
        sections.append(f"## {name}\n\nRun folder{'s' if len(runs) > 1 else ''}{folders}\n\n"
                        f"{report([(config, metrics) for _, config, metrics in runs]).strip()}\n")
    text = "\n".join(sections)
    if args.out:
        Path(args.out).write_text(text)
        print(f"bioplastic report: {sum(map(len, groups.values()))} run folder(s) -> {args.out}")
    else:
        print(text, end="")
    return 0


def _merge(args) -> int:
    from bioplastic.results import load_run, write_merged_run
    from bioplastic.studies import study_module

    if len(args.dirs) < 2:
        raise BioplasticError("bioplastic merge pools the seeds of two or more run folders; give at least two.")
    runs = [(directory, *load_run(directory)) for directory in args.dirs]
    studies = list(dict.fromkeys(config["study"] for _, config, _ in runs))
    if len(studies) > 1:
        raise BioplasticError(f"the folders hold runs of different studies ({', '.join(studies)}); "
                              "merge runs of one study.")
    study = study_module(studies[0])
    if not hasattr(study, "merge"):
        raise BioplasticError(f"the {studies[0]} study cannot pool run folders yet (forgetting_conv can); "
                              f"to add seeds to one of its runs, run it again with more seeds.")
    config, metrics = write_merged_run(Path(args.out), study, runs, command=args.command_line,
                                       overwrite=args.overwrite)
    print(f"bioplastic merge: {len(runs)} runs, seeds {config['seeds']} -> {args.out}/")
    print(study.summary_text(metrics))
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


def _terminate_as_interrupt(signum, frame):
    """SIGTERM (a scheduler's or a user's kill) ends a run like Ctrl-C: finished tasks kept, rc 130."""
    raise KeyboardInterrupt(f"signal {signum}")


HELP_EPILOG = """examples:
  bioplastic run experiments/supervised_stdp_alltd.yaml --quick
  bioplastic run experiments/conv_stdp_mnist.yaml seeds=[0,1] --workers 2 --out results/conv
  bioplastic sweep experiments/supervised_stdp_alltd.yaml --grid data.n_train=100,300 --quick
  bioplastic plot results/conv
  bioplastic report results/conv --out tables.md
  bioplastic merge results/forgetting_seed0 results/forgetting_seed1 --out results/forgetting_seeds01
  bioplastic models izhikevich_ch
  bioplastic config --schema --study unsupervised     every config key: type, range, default

environment:
  BIOPLASTIC_DATA_DIR  folder with the datasets (mnist/, emnist-letters/), read before any download
  BIOPLASTIC_OFFLINE   1: never download; a missing data file is an error that says where to put it
  XDG_CACHE_HOME       where downloads, checksums and latency codes are cached (default ~/.cache)
  BIOPLASTIC_CUDA_CC   compute capability for cuda_standalone without a GPU (default 9.0)
"""

RUN_EPILOG = """overrides: dotted config keys, values in YAML, e.g.
  seeds=[0,1,2]  data.n_train=5000  protocol.image_duration="350 ms"
  network.projections.input_to_exc.plasticity.parameters.A_pre=0.005
  bioplastic run CONFIG --print-config shows the resolved config with every key;
  bioplastic config --schema lists every key with its type, range or unit, and default.
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line: every subcommand and option, with help and examples."""
    from bioplastic.schema import DEVICES
    parser = argparse.ArgumentParser(
        prog="bioplastic", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Biologically plausible learning in spiking networks, on Brian2.\n"
                    "Run `bioplastic COMMAND --help` for a command's options.",
        epilog=HELP_EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run an experiment YAML (see experiments/)",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=RUN_EPILOG,
                         description="Run a study from its YAML file into a results folder (config, provenance,\n"
                                     "metrics, figures, tables). An interrupted run resumes when the same\n"
                                     "command is run again with the same --out.")
    run.add_argument("config", help="experiment file, e.g. experiments/supervised_stdp_alltd.yaml")
    run.add_argument("overrides", nargs="*",
                     help="key=value overrides, e.g. network.layers.exc.n_per_class=20 seeds=[0,1]")
    run.add_argument("--device", choices=DEVICES,
                     help="Brian2 code-generation target (default: the config's device.name), "
                          "e.g. --device cpp_standalone")
    run.add_argument("--out", help="output directory (default: results/<config>-<time>), e.g. --out results/mine")
    run.add_argument("--quick", action="store_true", help="apply the config's `quick:` overrides (small, minutes)")
    run.add_argument("--workers", type=_positive_int,
                     help="parallel Dask worker processes for the seeds/variants, e.g. --workers 2")
    replace = run.add_mutually_exclusive_group()
    replace.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    replace.add_argument("--extend", action="store_true",
                         help="add to a finished run in --out what its study allows (forgetting_conv: seeds, "
                              "radius pairs, protections, task-2 decision epochs): its finished tasks are kept, "
                              "and the folder is replaced only once the extended run is complete")
    run.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    run.set_defaults(func=_run)
    sweep = sub.add_parser("sweep", help="run a study over a grid of config values (resumable; Dask, SLURM, PBS)",
                           description="Points come from the config's `sweep:` section and from --grid/--zip/"
                                       "--sample; every point x seed is one task. Rerunning the same command "
                                       "resumes: finished tasks are kept.")
    sweep.add_argument("config", nargs="?", help="experiment file, e.g. experiments/supervised_stdp_alltd.yaml")
    sweep.add_argument("overrides", nargs="*", help="key=value overrides of the base config")
    sweep.add_argument("--grid", action="extend", nargs="+", metavar="KEY=V1,V2",
                       help="every combination, e.g. --grid data.n_train=100,300 "
                            "protocol.image_duration='200 ms,350 ms'")
    sweep.add_argument("--zip", action="extend", nargs="+", metavar="KEY=V1,V2",
                       help="lists varied together (same length), one axis of the grid, e.g. "
                            "--zip data.n_train=100,300 protocol.eval_every=50,150")
    sweep.add_argument("--sample", action="extend", nargs="+", metavar="KEY=LOW..HIGH[:log]",
                       help="random values from a range (with --samples N), e.g. --sample "
                            "network.projections.input_to_exc.plasticity.parameters.A_pre=1e-4..1e-2:log")
    sweep.add_argument("--samples", type=int, help="number of random points of --sample, e.g. --samples 20")
    sweep.add_argument("--sample-seed", type=int, help="seed of the random points (default 0), e.g. --sample-seed 1")
    sweep.add_argument("--quick", action="store_true", help="apply the config's `quick:` overrides")
    sweep.add_argument("--device", choices=DEVICES,
                       help="Brian2 code-generation target of every task (default: the config's device.name), "
                            "e.g. --device cpp_standalone")
    sweep.add_argument("--workers", type=_positive_int, help="local Dask cluster of N worker processes, e.g. "
                                                             "--workers 2")
    sweep.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://10.0.0.1:8786")
    sweep.add_argument("--cluster", metavar="KIND",
                       help="start workers through dask-jobqueue (slurm, pbs, sge, lsf, ...), with the config's "
                            "`cluster:` section, e.g. --cluster slurm")
    sweep.add_argument("--out", help="sweep directory (default: results/sweeps/<config>-<hash of the sweep>)")
    sweep.add_argument("--resume", metavar="DIR", help="finish the sweep stored in DIR, e.g. --resume "
                                                       "results/sweeps/supervised_stdp_alltd-1a2b3c")
    sweep.add_argument("--metric", help="metric of the summary and plots (default: accuracy_mean[-1]), e.g. "
                                        "--metric final_accuracy_mean")
    sweep.add_argument("--dry-run", action="store_true", help="check every point, list them, run nothing")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.set_defaults(func=_sweep)
    plot = sub.add_parser("plot", help="redraw every figure of a finished run folder from its files",
                          description="Draws the figures of a run again from the files of its folder alone "
                                      "(config.yaml, metrics.json and the arrays the study saved), e.g. after "
                                      "deleting them or changing the plotting code. Example: "
                                      "bioplastic plot results/supervised_stdp_alltd-20260101-120000")
    plot.add_argument("dir", metavar="DIR",
                      help="a finished run folder (not a .partial one), or a sweep's points/<task> folder")
    plot.set_defaults(func=_plot)
    report = sub.add_parser("report", help="Markdown result tables of finished run folders",
                            description="Writes the Markdown tables of the README's results from run folders, "
                                        "grouped by study (one section per study; in a table 'run k' is the k-th "
                                        "folder of that study as given). Example: bioplastic report results/dc100 "
                                        "results/dc400 --out results.md")
    report.add_argument("dirs", nargs="+", metavar="DIR", help="finished run folders")
    report.add_argument("--out", metavar="FILE", help="write the Markdown to FILE (default: print it)")
    report.set_defaults(func=_report)
    merge = sub.add_parser("merge", help="pool the seeds and variants of finished run folders of one protocol",
                           description="One run folder (config, metrics, tables, figures, provenance of every "
                                       "source) from finished runs of the same study and protocol that ran other "
                                       "seeds or variants, e.g. one seed per session or cluster node. Example: "
                                       "bioplastic merge runs/forgetting_seed0 runs/forgetting_seed1 --out "
                                       "runs/forgetting_seeds01")
    merge.add_argument("dirs", nargs="+", metavar="DIR", help="finished run folders")
    merge.add_argument("--out", required=True, metavar="DIR",
                       help="the merged run folder, e.g. results/forgetting_seeds01 (must not exist, unless "
                            "--overwrite)")
    merge.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    merge.set_defaults(func=_merge)
    config = sub.add_parser("config", help="the configuration schema: every key with its type, range and default",
                            description="Prints every config key of a study (dotted, as on the command line) with "
                                        "its type, range or unit, default and meaning, from bioplastic.schema. "
                                        "Examples: bioplastic config --schema; bioplastic config --schema --study "
                                        "forgetting_conv; bioplastic config --schema --json > schema.json")
    config.add_argument("--schema", action="store_true", required=True, help="print the schema (Markdown table)")
    config.add_argument("--study", default=None, help="the study whose sections are listed (default: every study)")
    config.add_argument("--json", action="store_true", help="JSON Schema instead of the table")
    config.set_defaults(func=_config)
    models = sub.add_parser("models", help="list models, or print one model's equations and parameters")
    models.add_argument("name", nargs="?", help="a model or rule to print (none: list them all), e.g. izhikevich_ch")
    models.set_defaults(func=_models)
    return parser


def main(argv=None) -> int:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate_as_interrupt)
        # A shell's background job (`bioplastic run ... &`) starts with SIGINT ignored; Brian2's
        # SIGINT handler, installed on import, then calls SIG_IGN as a function (TypeError, a run
        # marked failed). `kill -INT` ends such a run as Ctrl-C does.
        if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
            signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = build_parser()
    # key=value overrides may come before or after the options.
    args, extra = parser.parse_known_args(argv)
    stray = [item for item in extra if item.startswith("-") or "=" not in item or args.command not in ("run", "sweep")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = list(args.overrides) + extra
    args.command_line = ["bioplastic", *(sys.argv[1:] if argv is None else argv)]
    try:
        return args.func(args)
    except BioplasticError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:              # `bioplastic config --schema | head`: the reader is gone
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if getattr(args, "interrupted_sweep", None):
            print(f"\ninterrupted: finished tasks are kept in {args.interrupted_sweep}; rerun the same command "
                  f"(or bioplastic sweep --resume {args.interrupted_sweep}) to run the rest.", file=sys.stderr)
        elif getattr(args, "interrupted_out", None):
            print(f"\ninterrupted: no result was written; finished tasks are kept in {args.interrupted_out}.partial. "
                  f"Rerun the same command with --out {args.interrupted_out} to resume.", file=sys.stderr)
        else:
            print("\ninterrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
