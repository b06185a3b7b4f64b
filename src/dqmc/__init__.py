"""dqmc: compiles pharmacy Drug Quantity Management policies into evaluators and documents."""

__version__ = "0.1.0"
