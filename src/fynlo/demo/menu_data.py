"""The demo menus, floors and stock levels, as plain data.

Amounts are minor units of the restaurant's currency (pence, paise). Stock quantities are
whole units here; the loader stores them in thousandths. Dietary flags are the keys of
``dietaryInfo`` (see :data:`fynlo.menu.schemas.DIETARY_FLAGS`) and allergens the 14 of
:data:`fynlo.menu.schemas.Allergen`; the loader validates both with the API's own schemas.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    name: str
    price: int = 0


@dataclass(frozen=True)
class Group:
    name: str
    min_choices: int
    max_choices: int
    options: tuple[Option, ...]


@dataclass(frozen=True)
class Supplier:
    name: str
    contact: str
    email: str
    phone: str
    account_number: str


@dataclass(frozen=True)
class Stock:
    level: int
    minimum: int
    reorder_point: int
    reorder_quantity: int
    maximum: int
    cost_per_unit: int
    supplier: Supplier
    unit: str = "each"
    turnover: str = "medium"


@dataclass(frozen=True)
class Item:
    name: str
    price: int
    cost: int
    description: str
    dietary: tuple[str, ...] = ()
    allergens: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    prep: int = 0
    # Only where it differs from the category's station (null means the category's).
    station: str | None = None
    barcode: str | None = None
    takeaway_tax_category: str | None = None
    groups: tuple[Group, ...] = ()
    stock: Stock | None = None


@dataclass(frozen=True)
class Section:
    """A menu category and its products."""

    name: str
    station: str
    color: str
    description: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class TableSpec:
    number: str
    seats: int
    section: str


def ean13(base: str) -> str:
    """``base`` (12 digits) with its check digit: a valid EAN-13 barcode."""
    if len(base) != 12 or not base.isdigit():
        raise ValueError(f"an EAN-13 base is 12 digits, not {base!r}")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(base))
    return base + str((10 - total % 10) % 10)


def _barcode(n: int) -> str:
    # Prefix 20-29 is GS1's restricted-circulation range: in-house codes never clash with a
    # real product's.
    return ean13(f"2090000{n:05d}")


# --- shared modifier groups ---------------------------------------------------------------

# Coffee sizes, GBP.
COFFEE_SIZE = Group("Size", 1, 1, (Option("Small"), Option("Regular", 40), Option("Large", 80)))
MILK = Group(
    "Milk",
    0,
    1,
    (
        Option("Whole milk"),
        Option("Semi-skimmed"),
        Option("Skimmed"),
        Option("Oat", 40),
        Option("Soya", 40),
        Option("Almond", 40),
    ),
)
COFFEE_EXTRAS = Group(
    "Extras",
    0,
    3,
    (
        Option("Extra shot", 70),
        Option("Decaf"),
        Option("Vanilla syrup", 50),
        Option("Caramel syrup", 50),
        Option("Hazelnut syrup", 50),
    ),
)
ESPRESSO_SHOTS = Group("Shots", 1, 1, (Option("Single"), Option("Double", 60)))
TEA_MILK = Group(
    "Milk", 0, 1, (Option("Semi-skimmed"), Option("Oat", 40), Option("Slice of lemon"))
)

STEAK_DONENESS = Group(
    "Doneness",
    1,
    1,
    (
        Option("Blue"),
        Option("Rare"),
        Option("Medium rare"),
        Option("Medium"),
        Option("Well done"),
    ),
)
STEAK_SAUCE = Group(
    "Sauce",
    0,
    1,
    (Option("Peppercorn", 250), Option("Bearnaise", 250), Option("Chimichurri", 200)),
)
BURGER_EXTRAS = Group(
    "Extras",
    0,
    3,
    (
        Option("Extra beef patty", 400),
        Option("Smoked streaky bacon", 200),
        Option("Mature cheddar", 150),
        Option("Smashed avocado", 200),
        Option("Fried egg", 150),
        Option("Jalapenos", 100),
    ),
)
BURGER_SIDE = Group(
    "Side",
    1,
    1,
    (Option("Skin-on fries"), Option("Sweet potato fries", 100), Option("House salad")),
)
CHICKEN_HEAT = Group("Heat", 1, 1, (Option("Mild"), Option("Hot"), Option("Nashville hot")))
VEGAN_BURGER_EXTRAS = Group(
    "Extras",
    0,
    3,
    (
        Option("Vegan cheese", 150),
        Option("Smashed avocado", 200),
        Option("Jalapenos", 100),
        Option("Crispy onions", 100),
    ),
)
PIZZA_SIZE = Group("Size", 1, 1, (Option('10"'), Option('12"', 300), Option('14"', 550)))
PIZZA_TOPPINGS = Group(
    "Extra toppings",
    0,
    3,
    (
        Option("Buffalo mozzarella", 200),
        Option("Pepperoni", 200),
        Option("Nduja", 200),
        Option("Chestnut mushrooms", 100),
        Option("Rocket", 100),
        Option("Kalamata olives", 100),
    ),
)
PIZZA_BASE = Group("Base", 0, 1, (Option("Gluten-free base", 250),))
VEGAN_TOPPINGS = Group(
    "Extra toppings",
    0,
    3,
    (
        Option("Vegan mozzarella", 200),
        Option("Chestnut mushrooms", 100),
        Option("Roasted peppers", 100),
        Option("Rocket", 100),
    ),
)
FISH_PEAS = Group("Peas", 1, 1, (Option("Mushy peas"), Option("Garden peas")))
FRIES_SEASONING = Group(
    "Seasoning",
    0,
    1,
    (Option("Sea salt"), Option("Cajun spice"), Option("Truffle and parmesan", 150)),
)
PUDDING_SERVED_WITH = Group(
    "Served with",
    1,
    1,
    (Option("Hot custard"), Option("Vanilla ice cream"), Option("Clotted cream", 50)),
)

# --- suppliers ------------------------------------------------------------------------------

# Phone numbers are from Ofcom's range reserved for drama (020 7946 0000-0999).
SOHO_DRINKS = Supplier(
    "Soho Drinks Wholesale Ltd",
    "Priya Shah",
    "orders@sohodrinks.demo",
    "020 7946 0123",
    "FYN-BISTRO-0042",
)
BOROUGH_BAKERY = Supplier(
    "Borough Patisserie Co.",
    "Luc Moreau",
    "trade@boroughpatisserie.demo",
    "020 7946 0456",
    "BPC-77120",
)
SMITHFIELD_FOODS = Supplier(
    "Smithfield Fine Foods",
    "Tom Hargreaves",
    "kitchen@smithfieldfoods.demo",
    "020 7946 0789",
    "SFF-3391",
)


def _bottle(level: int, reorder_point: int, cost: int, turnover: str = "high") -> Stock:
    return Stock(
        level=level,
        minimum=reorder_point // 2,
        reorder_point=reorder_point,
        reorder_quantity=48,
        maximum=96,
        cost_per_unit=cost,
        supplier=SOHO_DRINKS,
        unit="bottle",
        turnover=turnover,
    )


def _dessert(level: int, reorder_point: int, cost: int) -> Stock:
    return Stock(
        level=level,
        minimum=2,
        reorder_point=reorder_point,
        reorder_quantity=12,
        maximum=24,
        cost_per_unit=cost,
        supplier=BOROUGH_BAKERY,
        unit="portion",
    )


def _special(level: int, reorder_point: int, cost: int) -> Stock:
    return Stock(
        level=level,
        minimum=1,
        reorder_point=reorder_point,
        reorder_quantity=6,
        maximum=10,
        cost_per_unit=cost,
        supplier=SMITHFIELD_FOODS,
        unit="portion",
        turnover="low",
    )


# --- Fynlo Bistro Soho (GBP, prices include VAT) -----------------------------------------

BISTRO_MENU: tuple[Section, ...] = (
    Section(
        "Specials",
        "grill",
        "#B22222",
        "Today's chef's specials, while they last",
        (
            Item(
                "Beef Wellington for one",
                2850,
                1050,
                "Fillet of beef, mushroom duxelles and Parma ham in puff pastry, red wine jus",
                allergens=("gluten", "eggs", "milk", "sulphites", "celery"),
                tags=("special", "chef's pick"),
                prep=35,
                station="oven",
                stock=_special(3, 3, 1050),
            ),
            Item(
                "Pan-roasted Cornish hake",
                2200,
                780,
                "Hake fillet, crushed new potatoes, samphire and brown shrimp butter",
                dietary=("glutenFree", "nutFree"),
                allergens=("fish", "crustaceans", "milk"),
                tags=("special", "seafood"),
                prep=20,
                stock=_special(7, 3, 780),
            ),
            Item(
                "Lobster linguine",
                3200,
                1400,
                "Half a native lobster, cherry tomatoes, chilli, garlic and bisque",
                dietary=("spicy", "nutFree"),
                allergens=("crustaceans", "gluten", "eggs", "milk", "celery"),
                tags=("special", "seafood"),
                prep=25,
                stock=_special(2, 3, 1400),
            ),
        ),
    ),
    Section(
        "Starters",
        "cold",
        "#6B8E23",
        "Small plates to begin",
        (
            Item(
                "Burrata and heritage tomatoes",
                950,
                330,
                "Creamy burrata, heritage tomatoes, basil oil and aged balsamic",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk", "sulphites"),
                tags=("sharing",),
                prep=8,
            ),
            Item(
                "Chicken liver parfait",
                850,
                240,
                "Smooth parfait, red onion marmalade and toasted brioche",
                dietary=("nutFree",),
                allergens=("gluten", "eggs", "milk", "sulphites"),
                prep=8,
            ),
            Item(
                "Crispy salt and pepper squid",
                900,
                280,
                "Lightly fried squid, lime and sriracha mayonnaise",
                dietary=("dairyFree", "spicy"),
                allergens=("molluscs", "gluten", "eggs"),
                tags=("seafood",),
                prep=10,
                station="fryer",
            ),
            Item(
                "Roast tomato and basil soup",
                700,
                150,
                "Slow-roasted tomato soup with sourdough",
                dietary=("vegan", "vegetarian", "dairyFree", "nutFree"),
                allergens=("celery", "gluten"),
                tags=("soup",),
                prep=6,
                station="grill",
            ),
            Item(
                "Chargrilled chorizo skewers",
                800,
                260,
                "Cooking chorizo, padron peppers and smoked paprika aioli",
                dietary=("glutenFree", "dairyFree", "spicy"),
                allergens=("eggs",),
                prep=10,
                station="grill",
            ),
            Item(
                "Halloumi fries",
                750,
                210,
                "Crisp halloumi batons with pomegranate and za'atar yoghurt",
                dietary=("vegetarian", "nutFree"),
                allergens=("milk", "gluten", "sesame"),
                tags=("sharing",),
                prep=8,
                station="fryer",
            ),
        ),
    ),
    Section(
        "Mains",
        "grill",
        "#8B4513",
        "From the grill and the pass",
        (
            Item(
                "28-day aged ribeye steak (10oz)",
                2900,
                1100,
                "Grass-fed British ribeye, confit garlic, watercress and skin-on fries",
                dietary=("glutenFree", "nutFree"),
                tags=("steak", "signature"),
                prep=20,
                groups=(STEAK_DONENESS, STEAK_SAUCE),
            ),
            Item(
                "Fynlo beef burger",
                1550,
                480,
                "Two smashed chuck patties, American cheese, pickles and burger sauce",
                dietary=("nutFree",),
                allergens=("gluten", "milk", "eggs", "mustard", "sesame"),
                tags=("burger", "bestseller"),
                prep=15,
                groups=(BURGER_SIDE, BURGER_EXTRAS),
            ),
            Item(
                "Buttermilk fried chicken burger",
                1450,
                420,
                "Buttermilk chicken thigh, slaw, pickles and chipotle mayo",
                dietary=("nutFree", "spicy"),
                allergens=("gluten", "milk", "eggs", "mustard", "sesame"),
                tags=("burger",),
                prep=15,
                station="fryer",
                groups=(CHICKEN_HEAT, BURGER_SIDE, BURGER_EXTRAS),
            ),
            Item(
                "Spiced chickpea burger",
                1350,
                330,
                "Chickpea and sweet potato patty, harissa mayo and pickled red onion",
                dietary=("vegan", "vegetarian", "dairyFree", "nutFree", "spicy"),
                allergens=("gluten", "mustard", "sesame"),
                tags=("burger", "plant-based"),
                prep=15,
                groups=(BURGER_SIDE, VEGAN_BURGER_EXTRAS),
            ),
            Item(
                "Beer-battered haddock and chips",
                1750,
                520,
                "Line-caught haddock, triple-cooked chips and tartare sauce",
                dietary=("dairyFree", "nutFree"),
                allergens=("fish", "gluten", "eggs", "sulphites", "mustard"),
                tags=("classic",),
                prep=15,
                station="fryer",
                groups=(FISH_PEAS,),
            ),
            Item(
                "Roast chicken supreme",
                1950,
                560,
                "Free-range chicken, dauphinoise potatoes, tenderstem and tarragon jus",
                dietary=("glutenFree", "nutFree"),
                allergens=("milk", "celery", "sulphites"),
                prep=22,
            ),
            Item(
                "Wild mushroom risotto",
                1600,
                390,
                "Carnaroli rice, wild mushrooms, truffle oil and parmesan",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk", "celery", "sulphites"),
                prep=20,
            ),
            Item(
                "Herb-crusted lamb rump",
                2400,
                890,
                "Pink lamb rump, pea puree, fondant potato and mint salsa verde",
                dietary=("glutenFree", "nutFree"),
                allergens=("milk", "sulphites", "mustard"),
                prep=22,
            ),
            Item(
                "Chicken shawarma bowl",
                1500,
                410,
                "Halal chicken thigh, spiced rice, pickles, hummus and chilli sauce",
                dietary=("halal", "dairyFree", "nutFree", "spicy"),
                allergens=("sesame",),
                tags=("bowl",),
                prep=12,
            ),
        ),
    ),
    Section(
        "Pizza",
        "oven",
        "#FF8C00",
        "Sourdough bases, 48-hour proved, from the wood-fired oven",
        (
            Item(
                "Margherita",
                1100,
                250,
                "San Marzano tomato, fior di latte and basil",
                dietary=("vegetarian", "nutFree"),
                allergens=("gluten", "milk"),
                tags=("classic",),
                prep=12,
                groups=(PIZZA_SIZE, PIZZA_BASE, PIZZA_TOPPINGS),
            ),
            Item(
                "Pepperoni",
                1300,
                330,
                "Tomato, fior di latte and spicy pepperoni",
                dietary=("nutFree", "spicy"),
                allergens=("gluten", "milk"),
                tags=("bestseller",),
                prep=12,
                groups=(PIZZA_SIZE, PIZZA_BASE, PIZZA_TOPPINGS),
            ),
            Item(
                "Nduja and hot honey",
                1400,
                360,
                "Tomato, fior di latte, nduja, red onion and chilli honey",
                dietary=("nutFree", "spicy"),
                allergens=("gluten", "milk"),
                prep=12,
                groups=(PIZZA_SIZE, PIZZA_BASE, PIZZA_TOPPINGS),
            ),
            Item(
                "Funghi e tartufo",
                1450,
                370,
                "White base, wild mushrooms, mozzarella, truffle and thyme",
                dietary=("vegetarian", "nutFree"),
                allergens=("gluten", "milk"),
                prep=12,
                groups=(PIZZA_SIZE, PIZZA_BASE, PIZZA_TOPPINGS),
            ),
            Item(
                "Vegan garden",
                1350,
                320,
                "Tomato, vegan mozzarella, courgette, peppers and olives",
                dietary=("vegan", "vegetarian", "dairyFree", "nutFree"),
                allergens=("gluten",),
                tags=("plant-based",),
                prep=12,
                groups=(PIZZA_SIZE, PIZZA_BASE, VEGAN_TOPPINGS),
            ),
        ),
    ),
    Section(
        "Sides",
        "fryer",
        "#DAA520",
        "To share, or not",
        (
            Item(
                "Skin-on fries",
                450,
                90,
                "Hand-cut Maris Piper fries",
                dietary=("vegan", "vegetarian", "dairyFree", "nutFree"),
                prep=6,
                groups=(FRIES_SEASONING,),
            ),
            Item(
                "Sweet potato fries",
                500,
                120,
                "With chipotle mayonnaise",
                dietary=("vegetarian", "dairyFree", "nutFree"),
                allergens=("eggs",),
                prep=6,
            ),
            Item(
                "Beer-battered onion rings",
                450,
                90,
                "Crisp onion rings in a light ale batter",
                dietary=("vegan", "vegetarian", "dairyFree", "nutFree"),
                allergens=("gluten", "sulphites"),
                prep=6,
            ),
            Item(
                "Chargrilled tenderstem broccoli",
                500,
                140,
                "Lemon, chilli and toasted almonds",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree"),
                allergens=("nuts",),
                prep=8,
                station="grill",
            ),
            Item(
                "House salad",
                450,
                100,
                "Mixed leaves, cucumber, radish and mustard vinaigrette",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                allergens=("mustard",),
                prep=4,
                station="cold",
                takeaway_tax_category="zero",
            ),
            Item(
                "Three-cheese mac and cheese",
                550,
                140,
                "Cheddar, gruyere and parmesan, toasted crumb",
                dietary=("vegetarian", "nutFree"),
                allergens=("gluten", "milk", "mustard"),
                prep=10,
                station="oven",
            ),
        ),
    ),
    Section(
        "Desserts",
        "pastry",
        "#C71585",
        "Made in our pastry kitchen every morning",
        (
            Item(
                "Sticky toffee pudding",
                750,
                160,
                "Medjool date sponge and butterscotch sauce",
                dietary=("vegetarian", "nutFree"),
                allergens=("gluten", "milk", "eggs"),
                tags=("classic", "bestseller"),
                prep=6,
                groups=(PUDDING_SERVED_WITH,),
                stock=_dessert(14, 5, 160),
            ),
            Item(
                "Dark chocolate fondant",
                800,
                180,
                "70% chocolate, molten centre, salted caramel ice cream",
                dietary=("vegetarian",),
                allergens=("gluten", "milk", "eggs", "soya"),
                prep=14,
                stock=_dessert(4, 5, 180),
            ),
            Item(
                "Vanilla creme brulee",
                700,
                140,
                "Madagascan vanilla custard, caramelised sugar, shortbread",
                dietary=("vegetarian", "nutFree"),
                allergens=("milk", "eggs", "gluten"),
                prep=5,
                stock=_dessert(10, 4, 140),
            ),
            Item(
                "Lemon tart",
                650,
                130,
                "Sharp lemon curd in sweet pastry with creme fraiche",
                dietary=("vegetarian", "nutFree"),
                allergens=("gluten", "milk", "eggs"),
                prep=3,
                takeaway_tax_category="zero",
                stock=_dessert(8, 4, 130),
            ),
            Item(
                "Vegan chocolate brownie",
                600,
                110,
                "Fudgy dark chocolate and walnut brownie",
                dietary=("vegan", "vegetarian", "dairyFree"),
                allergens=("gluten", "nuts", "soya"),
                tags=("plant-based",),
                prep=3,
                takeaway_tax_category="zero",
                stock=_dessert(16, 5, 110),
            ),
            Item(
                "Affogato",
                550,
                120,
                "Vanilla ice cream drowned in a double espresso",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk", "eggs"),
                prep=3,
                station="bar",
            ),
        ),
    ),
    Section(
        "Hot drinks",
        "bar",
        "#4B3621",
        "Speciality coffee roasted in East London",
        (
            Item(
                "Espresso",
                260,
                35,
                "A short, intense shot of our house blend",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("coffee",),
                prep=2,
                groups=(ESPRESSO_SHOTS,),
            ),
            Item(
                "Americano",
                320,
                40,
                "Double espresso lengthened with hot water",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("coffee",),
                prep=2,
                groups=(COFFEE_SIZE, MILK, COFFEE_EXTRAS),
            ),
            Item(
                "Flat white",
                360,
                55,
                "Double ristretto with silky steamed milk",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                tags=("coffee",),
                prep=3,
                groups=(MILK, COFFEE_EXTRAS),
            ),
            Item(
                "Cappuccino",
                360,
                55,
                "Espresso, steamed milk and a deep layer of foam",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                tags=("coffee",),
                prep=3,
                groups=(COFFEE_SIZE, MILK, COFFEE_EXTRAS),
            ),
            Item(
                "Caffe latte",
                370,
                60,
                "Espresso with plenty of steamed milk",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                tags=("coffee",),
                prep=3,
                groups=(COFFEE_SIZE, MILK, COFFEE_EXTRAS),
            ),
            Item(
                "Hot chocolate",
                380,
                70,
                "Single-origin cocoa whisked with steamed milk",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                prep=3,
                groups=(COFFEE_SIZE, MILK),
            ),
            Item(
                "English breakfast tea",
                280,
                25,
                "Loose-leaf Assam blend, served in a pot",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("tea",),
                prep=3,
                groups=(TEA_MILK,),
            ),
            Item(
                "Fresh mint tea",
                280,
                30,
                "A handful of fresh mint leaves",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("tea",),
                prep=3,
            ),
        ),
    ),
    Section(
        "Soft drinks",
        "bar",
        "#1E90FF",
        "Chilled and bottled",
        (
            Item(
                "Still mineral water (500ml)",
                300,
                55,
                "Welsh spring water",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("bottled",),
                barcode=_barcode(1),
                stock=_bottle(48, 24, 55),
            ),
            Item(
                "Sparkling mineral water (500ml)",
                300,
                55,
                "Welsh sparkling spring water",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("bottled",),
                barcode=_barcode(2),
                stock=_bottle(40, 24, 55),
            ),
            Item(
                "Cola (330ml glass bottle)",
                350,
                85,
                "Classic cola, served over ice with lemon",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("bottled",),
                barcode=_barcode(3),
                stock=_bottle(36, 18, 85),
            ),
            Item(
                "Diet cola (330ml glass bottle)",
                350,
                85,
                "No sugar, served over ice with lemon",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("bottled", "sugar-free"),
                barcode=_barcode(4),
                stock=_bottle(30, 18, 85),
            ),
            Item(
                "Sparkling elderflower presse (275ml)",
                380,
                95,
                "Pressed elderflower with spring water",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("bottled",),
                barcode=_barcode(5),
                stock=_bottle(20, 12, 95, "medium"),
            ),
            Item(
                "Fiery ginger beer (275ml)",
                380,
                95,
                "Brewed with root ginger and chilli",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree", "spicy"),
                tags=("bottled",),
                barcode=_barcode(6),
                stock=_bottle(5, 12, 95, "medium"),
            ),
            Item(
                "Cloudy apple juice (250ml)",
                350,
                80,
                "Pressed Kentish apples",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("bottled",),
                barcode=_barcode(7),
                stock=_bottle(24, 12, 80, "medium"),
            ),
            Item(
                "Homemade lemonade",
                400,
                60,
                "Fresh lemons, mint and soda",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                prep=3,
            ),
        ),
    ),
)


# --- Fynlo Cafe Camden (GBP, prices include VAT) -----------------------------------------

CAFE_COFFEE_SIZE = Group(
    "Size", 1, 1, (Option("Small"), Option("Regular", 30), Option("Large", 60))
)
CAFE_TOAST_EXTRAS = Group(
    "Extras",
    0,
    3,
    (
        Option("Poached egg", 150),
        Option("Smoked salmon", 300),
        Option("Halloumi", 200),
        Option("Chilli flakes"),
    ),
)
EGGS = Group("Eggs", 1, 1, (Option("Poached"), Option("Fried"), Option("Scrambled")))
BREAD = Group("Bread", 1, 1, (Option("Sourdough"), Option("Gluten-free bread", 100)))

CAFE_MENU: tuple[Section, ...] = (
    Section(
        "Coffee",
        "bar",
        "#4B3621",
        "Espresso drinks",
        (
            Item(
                "Flat white",
                330,
                50,
                "Double ristretto with steamed milk",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                tags=("coffee",),
                prep=3,
                groups=(MILK, COFFEE_EXTRAS),
            ),
            Item(
                "Cappuccino",
                330,
                50,
                "Espresso, steamed milk and foam",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                tags=("coffee",),
                prep=3,
                groups=(CAFE_COFFEE_SIZE, MILK, COFFEE_EXTRAS),
            ),
            Item(
                "Latte",
                340,
                55,
                "Espresso with plenty of steamed milk",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                tags=("coffee",),
                prep=3,
                groups=(CAFE_COFFEE_SIZE, MILK, COFFEE_EXTRAS),
            ),
            Item(
                "Long black",
                290,
                35,
                "Double espresso over hot water",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("coffee",),
                prep=2,
                groups=(CAFE_COFFEE_SIZE, MILK),
            ),
            Item(
                "Iced oat latte",
                380,
                70,
                "Espresso over ice with oat milk",
                dietary=("vegan", "vegetarian", "dairyFree", "nutFree"),
                allergens=("gluten",),
                tags=("coffee", "iced"),
                prep=3,
                groups=(COFFEE_EXTRAS,),
            ),
            Item(
                "Chai latte",
                350,
                60,
                "Spiced black tea with steamed milk",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                prep=3,
                groups=(CAFE_COFFEE_SIZE, MILK),
            ),
        ),
    ),
    Section(
        "Breakfast",
        "grill",
        "#DAA520",
        "Served until 3pm",
        (
            Item(
                "Smashed avocado on sourdough",
                950,
                260,
                "Avocado, lime, chilli and seeds",
                dietary=("vegan", "vegetarian", "dairyFree", "nutFree"),
                allergens=("gluten", "sesame"),
                prep=8,
                groups=(BREAD, CAFE_TOAST_EXTRAS),
            ),
            Item(
                "Full English",
                1250,
                390,
                "Bacon, sausage, eggs, mushrooms, tomato, beans and toast",
                dietary=("nutFree",),
                allergens=("gluten", "eggs", "sulphites"),
                prep=12,
                groups=(EGGS, BREAD),
            ),
            Item(
                "Eggs Benedict",
                1050,
                300,
                "Poached eggs, honey-roast ham and hollandaise on a muffin",
                dietary=("nutFree",),
                allergens=("gluten", "eggs", "milk"),
                prep=10,
            ),
            Item(
                "Buttermilk pancakes",
                900,
                200,
                "Blueberries, maple syrup and whipped butter",
                dietary=("vegetarian", "nutFree"),
                allergens=("gluten", "milk", "eggs"),
                prep=10,
            ),
        ),
    ),
    Section(
        "Sandwiches",
        "cold",
        "#6B8E23",
        "Made fresh every morning",
        (
            Item(
                "Ham, cheddar and pickle",
                650,
                190,
                "Honey-roast ham, mature cheddar and pickle on sourdough",
                allergens=("gluten", "milk", "mustard", "sulphites"),
                prep=2,
                takeaway_tax_category="zero",
            ),
            Item(
                "Falafel and hummus wrap",
                650,
                170,
                "Falafel, hummus, pickled red cabbage and tahini",
                dietary=("vegan", "vegetarian", "dairyFree", "nutFree"),
                allergens=("gluten", "sesame"),
                prep=2,
                takeaway_tax_category="zero",
            ),
            Item(
                "Chicken Caesar baguette",
                700,
                210,
                "Roast chicken, cos lettuce, parmesan and Caesar dressing",
                allergens=("gluten", "milk", "eggs", "fish", "mustard"),
                prep=2,
                takeaway_tax_category="zero",
            ),
        ),
    ),
    Section(
        "Cakes and pastries",
        "pastry",
        "#C71585",
        "Baked in Camden",
        (
            Item(
                "All-butter croissant",
                320,
                70,
                "Laminated by hand",
                dietary=("vegetarian", "nutFree"),
                allergens=("gluten", "milk", "eggs"),
                takeaway_tax_category="zero",
            ),
            Item(
                "Cinnamon bun",
                380,
                80,
                "Cardamom dough, cinnamon butter and sugar glaze",
                dietary=("vegetarian", "nutFree"),
                allergens=("gluten", "milk", "eggs"),
                takeaway_tax_category="zero",
            ),
            Item(
                "Banana bread",
                350,
                60,
                "With salted butter",
                dietary=("vegetarian",),
                allergens=("gluten", "milk", "eggs", "nuts"),
                takeaway_tax_category="zero",
            ),
        ),
    ),
    Section(
        "Cold drinks",
        "bar",
        "#1E90FF",
        "From the fridge",
        (
            Item(
                "Still water (500ml)",
                200,
                40,
                "Spring water",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                tags=("bottled",),
                barcode=_barcode(101),
            ),
            Item(
                "Fresh orange juice",
                400,
                110,
                "Squeezed to order",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                prep=3,
            ),
        ),
    ),
)


# --- Masala House Bengaluru (INR, 5 % GST added to prices) -----------------------------

SPICE = Group("Spice level", 1, 1, (Option("Mild"), Option("Medium"), Option("Hot")))
BIRYANI_PORTION = Group("Portion", 1, 1, (Option("Regular"), Option("Family pack", 35000)))
NAAN_EXTRAS = Group("Extras", 0, 2, (Option("Extra butter", 2000), Option("Cheese", 4000)))
LASSI_SWEETNESS = Group("Sweetness", 1, 1, (Option("Sweet"), Option("Less sweet")))

MASALA_MENU: tuple[Section, ...] = (
    Section(
        "Starters",
        "tandoor",
        "#FF8C00",
        "From the tandoor and the tawa",
        (
            Item(
                "Paneer tikka",
                32000,
                11000,
                "Cottage cheese marinated in yoghurt and spices, chargrilled",
                dietary=("vegetarian", "glutenFree", "nutFree", "spicy"),
                allergens=("milk",),
                prep=15,
                groups=(SPICE,),
            ),
            Item(
                "Chicken 65",
                34000,
                12000,
                "Crisp fried chicken with curry leaves and red chilli",
                dietary=("halal", "dairyFree", "nutFree", "spicy"),
                allergens=("gluten",),
                prep=15,
                station="kadai",
            ),
            Item(
                "Vegetable samosa (2 pcs)",
                12000,
                3500,
                "Spiced potato and peas in crisp pastry, with chutneys",
                dietary=("vegan", "vegetarian", "dairyFree", "nutFree"),
                allergens=("gluten",),
                prep=8,
                station="kadai",
            ),
            Item(
                "Masala dosa",
                18000,
                5000,
                "Crisp rice and lentil crepe with potato masala, sambar and chutney",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                allergens=("mustard",),
                prep=10,
                station="tawa",
            ),
        ),
    ),
    Section(
        "Curries",
        "kadai",
        "#B22222",
        "Slow-cooked, served with a choice of spice",
        (
            Item(
                "Butter chicken",
                42000,
                15000,
                "Tandoori chicken in a tomato, butter and fenugreek gravy",
                dietary=("halal", "glutenFree"),
                allergens=("milk", "nuts"),
                tags=("bestseller",),
                prep=15,
                groups=(SPICE,),
            ),
            Item(
                "Dal makhani",
                28000,
                7000,
                "Black lentils simmered overnight with butter and cream",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                prep=10,
                groups=(SPICE,),
            ),
            Item(
                "Palak paneer",
                30000,
                9500,
                "Cottage cheese in a garlicky spinach gravy",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                prep=12,
                groups=(SPICE,),
            ),
            Item(
                "Chana masala",
                24000,
                6000,
                "Chickpeas in an onion and tomato masala",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                prep=10,
                groups=(SPICE,),
            ),
            Item(
                "Hyderabadi chicken dum biryani",
                38000,
                13000,
                "Basmati rice and chicken sealed and slow-cooked, with raita and salan",
                dietary=("halal", "glutenFree", "nutFree", "spicy"),
                allergens=("milk",),
                tags=("signature",),
                prep=20,
                groups=(BIRYANI_PORTION, SPICE),
            ),
        ),
    ),
    Section(
        "Breads",
        "tandoor",
        "#DAA520",
        "Baked to order in the clay oven",
        (
            Item(
                "Butter naan",
                7000,
                1500,
                "Leavened bread brushed with butter",
                dietary=("vegetarian", "nutFree"),
                allergens=("gluten", "milk"),
                prep=6,
                groups=(NAAN_EXTRAS,),
            ),
            Item(
                "Garlic naan",
                8000,
                1800,
                "Naan with garlic and coriander",
                dietary=("vegetarian", "nutFree"),
                allergens=("gluten", "milk"),
                prep=6,
                groups=(NAAN_EXTRAS,),
            ),
            Item(
                "Tandoori roti",
                4000,
                800,
                "Wholewheat flatbread",
                dietary=("vegan", "vegetarian", "dairyFree", "nutFree"),
                allergens=("gluten",),
                prep=5,
            ),
        ),
    ),
    Section(
        "Desserts and drinks",
        "bar",
        "#C71585",
        "Something sweet and something cool",
        (
            Item(
                "Gulab jamun (2 pcs)",
                12000,
                3000,
                "Milk dumplings in rose and cardamom syrup",
                dietary=("vegetarian",),
                allergens=("milk", "gluten", "nuts"),
                prep=3,
                station="pastry",
            ),
            Item(
                "Masala chai",
                6000,
                1200,
                "Assam tea brewed with milk, ginger and cardamom",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                prep=4,
            ),
            Item(
                "Mango lassi",
                14000,
                4000,
                "Alphonso mango and yoghurt",
                dietary=("vegetarian", "glutenFree", "nutFree"),
                allergens=("milk",),
                prep=3,
                groups=(LASSI_SWEETNESS,),
            ),
            Item(
                "Fresh lime soda",
                9000,
                1500,
                "Sweet, salted or mixed",
                dietary=("vegan", "vegetarian", "dairyFree", "glutenFree", "nutFree"),
                prep=3,
                groups=(
                    Group("Style", 1, 1, (Option("Sweet"), Option("Salted"), Option("Mixed"))),
                ),
            ),
        ),
    ),
)

MENUS: dict[str, tuple[Section, ...]] = {
    "bistro": BISTRO_MENU,
    "cafe": CAFE_MENU,
    "masala": MASALA_MENU,
}

# The tax configuration of Masala House: GST-like 5 %, added to menu prices, no service charge.
MASALA_TAX_CONFIGURATION: dict[str, object] = {
    "vatEnabled": True,
    "vatRate": 5,
    "serviceTaxEnabled": False,
    "serviceTaxRate": 0,
    "pricesIncludeVat": False,
}


def _bistro_tables() -> tuple[TableSpec, ...]:
    # 1-4 by the window (twos), 5-10 in the main room (fours, two sixes), 11-12 terrace.
    seats = {1: 2, 2: 2, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 8: 4, 9: 6, 10: 6, 11: 4, 12: 6}
    section = {n: "Window" if n <= 4 else "Main" if n <= 10 else "Terrace" for n in seats}
    return tuple(TableSpec(str(n), seats[n], section[n]) for n in sorted(seats))


TABLES: dict[str, tuple[TableSpec, ...]] = {
    "bistro": _bistro_tables(),
    "cafe": tuple(
        TableSpec(str(n), 2 if n <= 4 else 4, "Counter" if n <= 2 else "Main") for n in range(1, 7)
    ),
    "masala": tuple(
        TableSpec(str(n), 4 if n <= 4 else 6 if n <= 6 else 8, "Main" if n <= 6 else "Family")
        for n in range(1, 9)
    ),
}
