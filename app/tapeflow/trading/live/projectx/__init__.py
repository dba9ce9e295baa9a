"""The ProjectX Gateway (TopstepX and other ProjectX prop firms): REST + SignalR user hub.

``api``: the wire records, enums and a thin aiohttp client; ``broker``: the ``Broker`` the account
drives. Reference: gateway.docs.projectx.com (Order/place, searchOpen, Trade/search, user hub).
"""

TOPSTEPX_API = "https://api.topstepx.com"
TOPSTEPX_USER_HUB = "https://rtc.topstepx.com/hubs/user"
