@_exported public import RingIOCore
@_exported public import RingIORuntime
@_exported public import RingIOTLS
