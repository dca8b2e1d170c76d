"""The servers the product is measured beside: a bare aiohttp ceiling, wechatpy + aiohttp echo, WeRoBot."""
