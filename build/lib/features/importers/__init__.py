"""Importers that turn FHIR R4 exports and OMOP CDM tables into a data-contract folder, reporting every input."""
