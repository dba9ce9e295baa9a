"""Backtest and forward test: the live pipeline over files (or a journal), metrics and reports.

``runner`` drives :class:`tapeflow.pipeline.Pipeline` over files; ``trades`` turns fills into
attributed round trips (the same code for a run and for a journal, so they cannot disagree);
``metrics`` computes the figures in integer cents; ``charts``, ``report_html`` and ``report`` write
the report folder; ``sweep`` runs parameter combinations in parallel; ``journal`` reads a journal.
"""
