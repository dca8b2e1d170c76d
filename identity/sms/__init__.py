"""Sending one-time codes by SMS: one narrow interface, a sandbox sender and a real provider adapter."""

from identity.sms.base import SmsError, SmsSender
from identity.sms.factory import build_sms_sender

__all__ = ["SmsError", "SmsSender", "build_sms_sender"]
