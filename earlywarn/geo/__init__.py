"""Geography: the mission area, the localities scored, their human names, travel times, and the
reference geodata shipped with the package (borders, towns, rivers).

Everything here answers "where": later stages ask it which locality an incident falls in and what
to call it, never the other way round.
"""
