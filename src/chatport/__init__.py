"""chatport: bring WhatsApp conversations into a CRM database, and keep them there."""

__version__ = "0.1.0"

__all__ = ["__version__"]
