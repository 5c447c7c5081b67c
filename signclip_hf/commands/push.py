"""Publish a SignCLIP model directory to the Hub: weights, processor, remote code, card, endpoint handler.

Everything is staged locally first (a bad folder fails before anything is created on the Hub) and uploaded
in one commit; pushing an unchanged folder again makes no commit. With `--space`, a Gradio Space running
`signclip-hf app` on the model is pushed too (needs the [app] extra).
"""

from __future__ import annotations

import argparse

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_model(parser, help="saved SignCLIP model directory (model + processor)")
    parser.add_argument("repo_id", metavar="REPO_ID", help="Hub repository to push to, e.g. user/signclip")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--revision", default=None, metavar="BRANCH", help="branch to push to (created if missing)")
    parser.add_argument(
        "--eval-results", default=None, metavar="FILE", help="evaluation JSON for the card's model-index (see cards.py)"
    )
    parser.add_argument("--model-name", default=None, metavar="NAME", help="card title; the repository name if not given")
    parser.add_argument("--license", default="mit", metavar="ID", help="licence of the weights (a Hub licence id)")
    cli.add_repeatable(parser, "--base-model", "REPO_ID", "Hub id of a model the towers started from; repeatable")
    cli.add_repeatable(parser, "--training-dataset", "DATASET_ID", "Hub id of a training dataset; repeatable")
    cli.add_repeatable(
        parser, "--sign-language", "CODE", "ISO 639-3 code of a sign language the model covers; repeatable (ase if none)"
    )
    parser.add_argument("--description", default=None, metavar="TEXT", help="first paragraph of the card")
    parser.add_argument(
        "--space", default=None, metavar="SPACE_ID", help="also push a Gradio Space (the `signclip-hf app`) for the model"
    )
    parser.add_argument(
        "--space-gallery", default=None, metavar="DATASET_ID", help="Hub dataset (build-dataset) the Space searches"
    )
    parser.add_argument(
        "--static", default=None, metavar="EXPORTED_DIR",
        help="with --space: a static Space (the `signclip-hf web` page) for this export of the model instead; the "
        "page loads the export's graphs from REPO_ID",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from ..cards import CardInfo
    from ..hub import push_model

    if args.static:
        if not args.space:
            raise ValueError("--static needs --space SPACE_ID (the static Space to push)")
        from ..web.site import read_export

        read_export(args.static)  # a bad export fails before anything is pushed

    base_model = args.base_model[0] if args.base_model and len(args.base_model) == 1 else args.base_model
    card = CardInfo(
        model_name=args.model_name or args.repo_id.split("/")[-1],
        repo_id=args.repo_id,
        license=args.license,
        base_model=base_model,
        datasets=args.training_dataset or [],
        sign_languages=args.sign_language or ["ase"],
        description=args.description,
        space=args.space,
    )
    commit = push_model(args.model, args.repo_id, args.private, args.revision, card, args.eval_results)
    print(f"Pushed {args.model} to {args.repo_id} ({args.revision or 'main'}): {commit.commit_url}")
    if args.space and args.static:
        from ..web.space import push_static_space

        _, space_commit = push_static_space(args.space, args.repo_id, args.static, args.private)
        print(f"Pushed the static web page Space {args.space}: {space_commit.commit_url}")
    elif args.space:
        from ..space.stage import push_space

        space_commit = push_space(args.space, args.repo_id, args.space_gallery, args.private)
        print(f"Pushed the app Space {args.space}: {space_commit.commit_url}")
    return 0
