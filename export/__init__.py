"""Stage 5: export trained task models for servers and devices (SavedModel, TFLite).

Installed as `kbert.export`. The exporters land with the export issue; this stage may import
`kbert.tasks`, and no earlier stage imports it.
"""
