"""Open GeoPackage layers in real QGIS (PyQGIS) and print, as JSON, how QGIS styles them.

Run with the Python that has PyQGIS (Debian: ``apt-get install python3-qgis``, then
``QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_style_probe.py FILE LAYER...``);
``tests/test_report_geopackage.py`` does this when PyQGIS is installed and skips otherwise.
"""

import json
import os
import sys

from qgis.core import QgsApplication, QgsVectorLayer

app = QgsApplication([], False)
app.initQgis()
out = {}
for name in sys.argv[2:]:
    layer = QgsVectorLayer(f"{sys.argv[1]}|layername={name}", name, "ogr")
    message, loaded = layer.loadDefaultStyle()
    renderer = layer.renderer()
    info = {"valid": layer.isValid(), "features": layer.featureCount(), "crs": layer.crs().authid(),
            "style_loaded": bool(loaded), "message": message, "renderer": renderer.type(),
            "labels": layer.labelsEnabled()}
    if renderer.type() == "categorizedSymbol":
        info["attr"] = renderer.classAttribute()
        info["categories"] = {str(c.value()): c.symbol().color().name() for c in renderer.categories()}
    if renderer.type() == "graduatedSymbol":
        info["attr"] = renderer.classAttribute()
        info["ranges"] = [[r.lowerValue(), r.upperValue(), r.symbol().color().name()] for r in renderer.ranges()]
    out[name] = info
print(json.dumps(out), flush=True)
os._exit(0)  # QgsApplication.exitQgis() segfaults in headless PyQGIS 3.22; nothing is left to clean up
