"""Pretrain SignCLIP from a YAML config with the Python API (copy and adapt).

    accelerate launch examples/pretrain.py --config examples/configs/pretrain_gestures.yaml
    accelerate launch examples/pretrain.py --config CONFIG.yaml --resume latest
"""

import argparse

from accelerate import PartialState

from signclip_hf.training import PretrainConfig, pretrain

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--config", required=True)
parser.add_argument("--resume", default=None, help="checkpoint directory or 'latest'")
parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config entry")
args = parser.parse_args()

final = pretrain(PretrainConfig.from_yaml(args.config, args.set), resume=args.resume)
if PartialState().is_main_process:
    print(f"model + processor saved to {final} (load with AutoModel / AutoProcessor)")
