"""QR codes at the counter: merchant-presented codes (EMVCo MPM), parsed strictly, drawn as SVG or PNG."""

from .emv import QrError, crc16
from .merchant import DYNAMIC_TTL_MS, GUI, MerchantCode, dynamic_code, encode, parse

__all__ = ["DYNAMIC_TTL_MS", "GUI", "MerchantCode", "QrError", "crc16", "dynamic_code", "encode", "parse"]
