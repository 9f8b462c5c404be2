"""Probe calls: callwatch dials the office like a citizen and checks its own monitoring.

``uac`` (one probe call, sans-IO), ``caller`` (the pyVoIP phone that places it), ``prompt``
(the audio it plays).
"""
