"""PyInstaller's entry script: the packaged PredictML runs exactly what ``python -m predictml_desktop`` runs."""

from predictml_desktop.__main__ import main

if __name__ == "__main__":
    main()
