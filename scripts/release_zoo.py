"""Publish the official presets to the hub and pin their revisions in the manifest.

    .venv/bin/python scripts/release_zoo.py               # every preset of the manifest
    .venv/bin/python scripts/release_zoo.py jsb_lstm      # some of them
    HF_ENDPOINT=http://127.0.0.1:PORT .venv/bin/python scripts/release_zoo.py --owner me

Each preset is read from the zoo directory (the checkout's ``zoo/``), verified
against the manifest, and uploaded to its hub repository (the manifest's
``hub.repo``, or ``OWNER/NAME`` with ``--owner``) with its model card as the
hub README (`keras_rnnx.zoo.push`). The commit each upload made is written
into the manifest's ``hub`` entry as soon as it succeeds, so an interrupted
release keeps what it published and the same command continues. The token is
the hub client's own (``HF_TOKEN`` or ``hf auth login``).
"""

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_rnnx import zoo  # noqa: E402


def release(names, *, manifest_path, zoo_dir, owner=None, skip_published=False, out=sys.stdout):
    """Push ``names`` and pin their commits in ``manifest_path``; returns ``{name: commit}``."""
    manifest = zoo.read_manifest(manifest_path)
    presets = manifest["presets"]
    unknown = [name for name in names if name not in presets]
    if unknown:
        raise zoo.PresetError(f"not in {manifest_path}: {', '.join(unknown)}; choose from {', '.join(sorted(presets))}.")
    pinned = {}
    for name in names:
        entry = presets[name]
        hub = dict(entry.get("hub") or {"repo": f"{zoo.manifest.HUB_OWNER}/{name}", "revision": None})
        if owner is not None:
            hub = {"repo": f"{owner}/{name}", "revision": None}
        if skip_published and hub.get("revision"):
            print(f"{name}: already at hf://{hub['repo']}@{hub['revision']}", file=out)
            continue
        directory = pathlib.Path(zoo_dir) / name
        zoo.manifest.verify_files(directory, entry, name)
        ref = zoo.hf.push(directory, f"hf://{hub['repo']}", message=f"keras-rnnx preset {name}, version {entry['version']}")
        entry["hub"] = {"repo": hub["repo"], "revision": ref.revision}
        zoo.write_manifest(manifest_path, manifest)
        pinned[name] = ref.revision
        print(f"{name}: {ref.uri}", file=out)
    return pinned


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="presets to publish (default: every one)")
    parser.add_argument("--manifest", default=str(zoo.PACKAGED_MANIFEST), help="the manifest to pin (default: the packaged one)")
    parser.add_argument("--zoo-dir", default=str(ROOT / "zoo"), help="where the presets' files are")
    parser.add_argument("--owner", help="publish under this hub owner instead of the manifest's")
    parser.add_argument("--skip-published", action="store_true", help="leave presets that already have a revision")
    args = parser.parse_args(argv)
    manifest_path = pathlib.Path(args.manifest)
    names = args.names or sorted(zoo.read_manifest(manifest_path)["presets"])
    try:
        release(names, manifest_path=manifest_path, zoo_dir=args.zoo_dir, owner=args.owner, skip_published=args.skip_published)
    except zoo.PresetError as err:
        print(f"release_zoo: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
