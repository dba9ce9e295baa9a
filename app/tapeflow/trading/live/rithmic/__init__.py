"""Rithmic orders (``async-rithmic``'s order and P&L plants) on the venue-neutral live layer.

``wire``: requests sent exactly once and matched to their answer by ``user_msg``; ``notices``: the
order plant's notifications as order-state notices; ``broker``: the ``Broker`` the account drives,
on the one shared ``RithmicSession`` (``tapeflow.rithmic.session``).
"""
