Console.WriteLine("mmrag");
