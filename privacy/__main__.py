"""Entry point for `python -m privacy`; see privacy.launch for what happens before Streamlit starts."""

import sys

from privacy.launch import main

sys.exit(main(sys.argv[1:]))
