"""The room of reports: one self-contained HTML page of a model, a backtest or a night's batch."""
