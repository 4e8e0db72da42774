"""Commitments: RIs and Savings Plans, their coverage, utilisation, expiry and purchases.

Pure logic: :mod:`.models` (typed records), :mod:`.usage` (coverage and utilisation from the cost
store's FOCUS commitment columns), :mod:`.simulate` (the purchase simulator), :mod:`.expiry`
(which expiry alerts are due), :mod:`.findings` (unused commitment and purchase recommendations
as findings), :mod:`.report` (text tables).  Adapters: :mod:`.aws` (inventory, Cost Explorer's
coverage/utilisation/recommendation calls, the gated purchase), :mod:`.review` (one review over
the store and AWS, recorded in the findings store and the outbox).  Prefect wrappers:
:mod:`.tasks`.
"""
