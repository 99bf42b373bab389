"""risingrisk: who is rising risk of high intensity use of urgent care, 6-18 months ahead."""

__version__ = "0.1.0"
