"""Rithmic orders (``async-rithmic``'s order and P&L plants) on the venue-neutral live layer.

``wire``: commands sent exactly once and matched to their answer by ``user_msg``; ``notices``: the
order plant's notifications as order-state notices; ``commands``: modify and cancel one at a time
per order; ``protocol``: Rithmic's numbers and our records of its figures; ``broker``: the
``Broker`` the account drives, on the one shared ``RithmicSession`` (``tapeflow.rithmic.session``);
``connect``: the account and front contracts.
"""
