"""Marketplace order import: Tmall/Taobao, JD, Youzan, Pinduoduo, Douyin, WeChat Shop and generic mappings.

The entry points are `orders.importer.import_files` / `import_file`; `scrm orders import` wraps them.
"""
