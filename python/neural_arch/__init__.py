from ._C import *  # placeholder
