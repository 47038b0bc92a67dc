"""Qt widgets: the only package (with console.app) that imports PySide6 or pyqtgraph."""
