import sys
from pathlib import Path

# make tests/strategy/strategy_helpers.py importable as `strategy_helpers` whatever the import mode
sys.path.insert(0, str(Path(__file__).resolve().parent))
