"""Importers that bring outside data into the database: the pupil export from ParnasSys
(CSV) and the vendors' privacy leaflets (YAML)."""
