"""Typing rules: decide what kind of thing an organisation-like mention is from its own form and
its sentence, for names the knowledge base does not know.

Order of evidence: the name's head noun and suffixes (strong), then cue words around it in the
sentence (weaker). Cue lists are English news conventions, not names from any one corpus.
"""

from __future__ import annotations

import re

AGENCY_HEADS = (
    r"ministry|ministries|department|bureau|bureaus|police|policing|constabulary|gendarmerie|"
    r"commission|committee|congress|parliament|senate|assembly|council|agency|administration|"
    r"corps|army|armed forces|military|navy|air force|forces|guard|guards|court|tribunal|"
    r"procuratorate|prosecutor'?s? office|prosecution service|directorate|inspectorate|"
    r"secretariat|cabinet|legislature|embassy|consulate|treasury|customs|border patrol|"
    r"intelligence service|security service|secret service|state security|public security|"
    r"battalion|brigade|regiment|ombudsman|working group|general assembly|security council|"
    r"human rights council|high commissioner|government|authority|authorities|office"
)
AGENCY_HEAD_RE = re.compile(rf"\b({AGENCY_HEADS})\b", re.IGNORECASE)
INTERGOV_RE = re.compile(
    r"^(united nations|un|european union|eu|african union|nato|interpol|europol|"
    r"european commission|european parliament|world bank|imf|wto|who|oecd|asean)\b",
    re.IGNORECASE,
)
# A police force or military named by place or nationality ("Xinjiang police", "Chinese military").
FORCE_WORDS = ("police", "military", "army", "navy", "security forces", "armed forces", "gendarmerie",
               "intelligence", "customs", "border police", "riot police", "special police")

NGO_RE = re.compile(
    r"\b(watch|amnesty|foundation|fund|trust|coalition|alliance|network|initiative|campaign|"
    r"society|association|federation|union for|league|citizen lab|lab|laboratory|project|"
    r"reporters without borders|committee to protect|centre for|center for|institute for|"
    r"human rights|civil liberties|advocacy|frontier foundation|privacy international|access now|"
    r"resource centre|resource center|think tank)\b",
    re.IGNORECASE,
)
MEDIA_RE = re.compile(
    r"\b(times|post|journal|news|herald|tribune|guardian|press|reuters|bloomberg|magazine|daily|"
    r"gazette|chronicle|wire|radio|television|tv|broadcasting|broadcast|telegraph|observer|"
    r"economist|review|policy|report|reporter|today|weekly|monthly|standard|independent|"
    r"express|mirror|sun|globe|star|intercept|verge|wired|politico|axios|agency france|afp|"
    r"associated press|xinhua|cnn|bbc|npr|pbs|abc|nbc|cbs|al jazeera|file)\b",
    re.IGNORECASE,
)
ACADEMIC_RE = re.compile(
    r"\b(university|universit[éeä]t?|college|school of|institute of technology|polytechnic|"
    r"academy of sciences|academy)\b",
    re.IGNORECASE,
)
COMPANY_FORM_RE = re.compile(
    r"(\b(inc|corp|corporation|co|ltd|limited|llc|plc|gmbh|ag|s\.a|n\.v|b\.v|pty|holdings?|group|"
    r"technologies|technology|tech|biotechnology|biotech|bio|systems|solutions|software|electronics|"
    r"semiconductors?|networks|telecom|telecommunications|communications|pharmaceuticals?|"
    r"scientific|labs|analytics|robotics|industries|manufacturing|instruments|digital|dynamics|"
    r"intelligence systems|vision|ai|devices|engineering|enterprises|international trading|"
    r"trading|capital|ventures|partners|motors|airlines|energy|medical|diagnostics|genomics|"
    r"biosciences|life sciences|forensics|surveillance|security technology)\b\.?$)",
    re.IGNORECASE,
)
# Sentence cues that the organisation next to them is a business.
COMPANY_CUES_RE = re.compile(
    r"\b(company|companies|firm|maker|manufacturer|vendor|supplier|distributor|reseller|dealer|"
    r"contractor|start-?up|corporation|conglomerate|subsidiary|shares|stock|revenue|customers|"
    r"chief executive|ceo|spokes(wo)?man|spokesperson|general counsel|sells?|sold|supplied|"
    r"products?|-based|headquartered|brand|acquired|listed)\b",
    re.IGNORECASE,
)
MEDIA_CUES_RE = re.compile(
    r"\b(reported|reporting|newspaper|outlet|told the|wrote|published|editorial|columnist|"
    r"journalists?|reporters?|according to (the )?(a )?report)\b",
    re.IGNORECASE,
)
NGO_CUES_RE = re.compile(
    r"\b(rights group|advocacy|nonprofit|non-profit|ngo|watchdog|researchers at|campaigners?|"
    r"activists?|human rights organi[sz]ation)\b",
    re.IGNORECASE,
)

GENERIC_GOVERNMENT_RE = re.compile(
    r"^((the )?([a-z. -]+ )?(government|authorities|administration|regime|state)|"
    r"(the )?(central|local|federal|provincial|regional) government)$",
    re.IGNORECASE,
)


def agency_by_form(name: str) -> bool:
    """Names built like state bodies: 'Ministry of Public Security', 'Bingtuan Public Security
    Bureau', 'U.S. Department of Commerce', 'United Nations', 'Xinjiang Police Department'."""
    if INTERGOV_RE.match(name):
        return True
    if GENERIC_GOVERNMENT_RE.match(name):
        return False
    return bool(AGENCY_HEAD_RE.search(name))


def classify_org(name: str, sentence: str) -> str:
    """Type an organisation the KB does not know: agency, ngo, media, academic, company or
    other_org."""
    if ACADEMIC_RE.search(name):
        return "academic"
    if NGO_RE.search(name) and not COMPANY_FORM_RE.search(name):
        return "ngo"
    if agency_by_form(name) and not COMPANY_FORM_RE.search(name):
        return "agency"
    if COMPANY_FORM_RE.search(name):
        return "company"
    if MEDIA_RE.search(name):
        return "media"
    context = sentence.replace(name, " ")
    if COMPANY_CUES_RE.search(context):
        return "company"
    if NGO_CUES_RE.search(context):
        return "ngo"
    if MEDIA_CUES_RE.search(context):
        return "media"
    return "other_org"


def is_generic_government(name: str) -> bool:
    return bool(GENERIC_GOVERNMENT_RE.match(name.strip()))
