"""spec_decode_ros: speculative edge-cloud decoding with early exits for VLM control of a Go2.

The generated ROS messages (``spec_decode_ros.msg``) are installed by rosidl into site-packages,
the Python sources may live in a development checkout: ``extend_path`` merges both halves.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
