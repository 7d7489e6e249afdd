// The recipe speaks in QVQuant's terms (QuantInfo, QuantPlan): whoever imports the recipe gets them.
@_exported import QVQuant
