"""Real history at scale: the local catalog of day files, date ranges, downloads, multi-day runs.

``calendar`` says which dates CME equity-index futures trade; ``catalog`` lists the DBN files in
the data folder from their own metadata; ``dates`` turns ``--symbol ES --from D --to D`` into
those files; ``engine`` runs per-day tasks in one process, in local processes or on a Dask
cluster and hands results back in task order; ``download`` fetches one file per trading date
through the ``databento`` client.
"""
