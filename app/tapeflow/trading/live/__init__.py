"""Live execution: the venue-independent order book of a live broker, and the venue adapters.

``book.VenueOrders`` holds the orders one venue connection knows, applies the venue's notices through
``order_state.apply``, drops fills it has already booked (by venue fill id, the set restored from
the journal) and adopts orders placed elsewhere as external. A venue adapter (``projectx``; Rithmic
later) only translates its protocol into those notices and sends our commands.
"""
