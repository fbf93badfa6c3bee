"""Lead scoring and sales-pipeline forecasting: the library both training and serving use."""

__version__ = "0.1.0"
