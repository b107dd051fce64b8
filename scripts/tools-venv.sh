# Sourced by the check scripts: a virtualenv with the PyPI checkers of
# scripts/tools-requirements.txt, made once, at $TOOLS_VENV.
TOOLS_VENV=${TOOLS_VENV:-target/tools-venv}
if [ ! -f "$TOOLS_VENV/.installed" ] || [ scripts/tools-requirements.txt -nt "$TOOLS_VENV/.installed" ]; then
  python3 -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/tools-requirements.txt
  touch "$TOOLS_VENV/.installed"
fi
