"""Decisions: turn risk into the questions planners ask (who is covered, what needs forward
deployment or humanitarian access support, where a new base would reach most people) and into
the agreed indicators a joint mechanism monitors.
"""
