"""Batch scoring, list publication, and the BentoML service with auth, audit and pages."""
